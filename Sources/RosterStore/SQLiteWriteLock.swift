import Synchronization

/// A first-come, first-served async mutex for SQLite write transactions within this process.
///
/// SQLite has one writer at a time. SQLiteNIO's busy handler retries on the blocking thread pool without
/// sleeping, so two connections of one process contending for the write lock would burn both pool threads
/// while the holder waits for a thread to commit. Queuing writers here, before they touch SQLite, avoids that.
final class SQLiteWriteLock: Sendable {
    static let shared = SQLiteWriteLock()

    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Runs `body` holding the lock.
    func withLock<T>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.held {
                    state.waiters.append(continuation)
                    return false
                }
                state.held = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.held = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

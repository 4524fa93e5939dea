import Fluent
import NIOConcurrencyHelpers
import RosterStore
import Vapor

/// Background upkeep of the store while `roster serve` runs, every second: indexes for search the rows bulk imports
/// left in the backlog (`SearchIndex`), and on SQLite checkpoints the write-ahead log, which committing requests then
/// no longer do (`WriteAheadLog`).
final class StoreMaintenance: LifecycleHandler, Sendable {
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    func didBootAsync(_ application: Application) async throws {
        let db = application.db
        let logger = application.logger
        let sqlite = SQLBackend(db) == .sqlite
        if sqlite { WriteAheadLog.checkpointsInBackground = true }
        task.withLockedValue {
            $0 = Task {
                while !Task.isCancelled {
                    do {
                        try await SearchIndex(db).catchUpAll()
                        if sqlite { try await WriteAheadLog.checkpoint(db) }
                    } catch {
                        logger.error("store maintenance: \(String(describing: error))")
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        let running = task.withLockedValue { $0 }
        running?.cancel()
        await running?.value
        WriteAheadLog.checkpointsInBackground = false
    }
}

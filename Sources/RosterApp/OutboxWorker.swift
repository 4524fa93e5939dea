import Vapor
import Fluent
import NIOConcurrencyHelpers
import RosterCore
import RosterStore

/// Delivers outbox messages through the configured `Mailer`, retrying failures with backoff.
struct OutboxWorker: Sendable {
    let db: any Database
    let mailer: any Mailer
    let renderer: EmailRenderer
    let logger: Logger
    var maximumAttempts = 8

    /// Delivers every due message once; returns how many were delivered.
    @discardableResult
    func deliverDue(batch: Int = 50) async throws -> Int {
        let delivery = OutboxDelivery(db)
        var delivered = 0
        while !Task.isCancelled {
            let claimed = try await delivery.claim(limit: batch, now: Date())
            if claimed.isEmpty { return delivered }
            for message in claimed {
                // Stopping (shutdown) leaves the rest of the batch in `sending`; it is requeued on the next start.
                if Task.isCancelled { return delivered }
                do {
                    try await mailer.send(renderer.message(for: message))
                    try await delivery.markSent(message, now: Date())
                    delivered += 1
                } catch {
                    let exhausted = message.attempts >= maximumAttempts
                    let backoff = min(3600, pow(2, Double(message.attempts)) * 5) * Double.random(in: 0.8...1.2)
                    logger.warning("email delivery failed", metadata: ["to": .string(message.recipient), "attempt": .stringConvertible(message.attempts), "error": .string(String(describing: error))])
                    try await delivery.markFailed(message, error: String(describing: error), permanent: false,
                                                  retryAt: exhausted ? nil : Date().addingTimeInterval(backoff), now: Date())
                }
            }
        }
        return delivered
    }
}

/// Runs the background work of `roster serve` until shutdown: the outbox worker (every second) and the
/// invitation-expiry sweep (every minute; reads also expire lazily).
final class OutboxWorkerLifecycle: LifecycleHandler, Sendable {
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    func didBootAsync(_ application: Application) async throws {
        let worker = OutboxWorker(db: application.db, mailer: application.roster.mailer, renderer: EmailRenderer(application), logger: application.logger)
        let db = application.db
        task.withLockedValue {
            $0 = Task {
                try? await OutboxDelivery(db).requeueStale(olderThan: Date().addingTimeInterval(-300))
                var tick = 0
                while !Task.isCancelled {
                    do { try await worker.deliverDue() } catch {
                        worker.logger.error("outbox worker: \(String(describing: error))")
                    }
                    if tick % 60 == 0 {
                        do { try await MembershipStore(db).expireAllDue(now: Date()) } catch {
                            worker.logger.error("expiry sweep: \(String(describing: error))")
                        }
                    }
                    tick += 1
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        let running = task.withLockedValue { $0 }
        running?.cancel()
        await running?.value
    }
}

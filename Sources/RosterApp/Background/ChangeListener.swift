import Vapor
import Fluent
import FluentPostgresDriver
import NIOConcurrencyHelpers
import RosterStore

/// On PostgreSQL, listens for `roster_changes` (sent by the committing write transactions of any instance that may
/// change access, `ChangeNotice`)
/// and advances this process's `ChangeGeneration` (its API keys' too when the change says so), so cached answers
/// never outlive another instance's change by more than the notification's delivery time.
final class ChangeListener: LifecycleHandler, Sendable {
    private let url: String
    private let generation: ChangeGeneration
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(url: String, generation: ChangeGeneration = .shared) {
        self.url = url
        self.generation = generation
    }

    func didBootAsync(_ application: Application) async throws {
        let url = self.url
        let logger = application.logger
        let generation = self.generation
        task.withLockedValue {
            $0 = Task {
                while !Task.isCancelled {
                    do {
                        let config = try SQLPostgresConfiguration(url: url)
                        let connection = try await PostgresConnection.connect(
                            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: config.coreConfiguration, id: 0, logger: logger)
                        do {
                            let notifications = try await connection.listen("roster_changes")
                            // Anything may have changed while we were not listening.
                            generation.advance(includingAPIKeys: true)
                            for try await notification in notifications {
                                generation.advance(includingAPIKeys: notification.payload == ChangeGeneration.apiKeysPayload)
                            }
                        } catch {
                            if !Task.isCancelled { logger.warning("change listener: \(String(describing: error))") }
                        }
                        try? await connection.close()
                    } catch {
                        logger.warning("change listener cannot connect: \(String(describing: error))")
                    }
                    generation.advance(includingAPIKeys: true)
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

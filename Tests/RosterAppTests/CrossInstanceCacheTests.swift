import Foundation
import Testing
import Vapor
import FluentPostgresDriver
@testable import RosterApp
import RosterCore
import RosterStore
import RosterTesting

/// On PostgreSQL, another instance's committed change reaches this instance's caches through NOTIFY.
@Suite struct CrossInstanceCacheTests {
    @Test(.enabled(if: TestBackend.available.contains(.postgres)))
    func aCommitOnAnotherConnectionInvalidatesThisInstancesCache() async throws {
        try await TestApp.with(.postgres) { t in
            guard case .postgres(let url) = t.location else { return }
            let generation = ChangeGeneration()
            let listener = ChangeListener(url: url, generation: generation)
            try await listener.didBootAsync(t.app)

            // Another instance: a plain connection that commits a membership change the way the store does.
            let config = try SQLPostgresConfiguration(url: url)
            let other = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: config.coreConfiguration, id: 9, logger: t.app.logger)

            // The listener advances the generation once when it connects; wait for that first.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while generation.current == 0 && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let connected = generation.current
            #expect(connected > 0, "the listener did not connect")
            // Now only a notification can move it. Repeat the NOTIFY in case the first raced the LISTEN.
            var delivered = false
            while clock.now < deadline && !delivered {
                _ = try await other.query("NOTIFY roster_changes", logger: t.app.logger)
                try await Task.sleep(for: .milliseconds(20))
                delivered = generation.current != connected
            }
            #expect(delivered, "no notification reached the listener within 10 s")
            try await other.close()
            await listener.shutdownAsync(t.app)
        }
    }
}

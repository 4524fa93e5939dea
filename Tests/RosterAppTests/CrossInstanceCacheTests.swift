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

    /// Runs `body` with a second application instance on the database of `first`, whose caches follow only its own
    /// listener (as they would in another process), once the listener is connected; `deadline` bounds the waits.
    func withSecondInstance(of first: TestApp, url: String,
                            _ body: (TestApp, ChangeGeneration, ContinuousClock.Instant) async throws -> Void) async throws {
        let generation = ChangeGeneration()
        try await TestApp.with(.postgres, sharingDatabaseOf: first, changeGeneration: generation) { second in
            let listener = ChangeListener(url: url, generation: generation)
            try await listener.didBootAsync(second.app)
            let deadline = ContinuousClock.now + .seconds(10)
            while generation.current == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try await body(second, generation, deadline)
            await listener.shutdownAsync(second.app)
        }
    }

    /// Two application instances on one database: a member removed through the first is refused by the second's
    /// `POST /v1/authorize` on its first request after the change's notification arrived, though the second had
    /// the old answer cached (its cache follows only its own listener here, as it would in another process).
    @Test(.enabled(if: TestBackend.available.contains(.postgres)))
    func aMemberRemovedThroughOneInstanceIsRefusedByTheOther() async throws {
        try await TestApp.with(.postgres) { first in
            guard case .postgres(let url) = first.location else { return }
            let owner = try await first.verifiedPerson("owner@example.com")
            let org = try await first.createOrg(owner, slug: "acme")
            let member = try await first.addMember(owner: owner, org: org, email: "m@example.com")
            let memberID = try #require(try await first.send(.GET, "/v1/me", token: member.token).string("id"))
            let key = try await first.apiKey()
            try await withSecondInstance(of: first, url: url) { second, generation, deadline in
                func ask() async throws -> Bool? {
                    try await second.send(.POST, "/v1/authorize", json: ["account_id": memberID, "org": "acme", "permission": "scope.read"], token: key)
                        .json["allowed"] as? Bool
                }
                #expect(try await ask() == true)
                #expect(try await ask() == true)   // now cached in the second instance
                let before = generation.current
                #expect(try await first.send(.DELETE, "/v1/orgs/\(org)/members/\(member.membershipID)", token: owner).status == .noContent)
                // Wait for the second instance to hear of the commit (a condition, not a fixed delay).
                while generation.current == before && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                #expect(generation.current != before, "no notification reached the second instance")
                #expect(try await ask() == false)
            }
        }
    }

    /// An organization key stays cached while the rosters it works on change (every write used to drop it), an
    /// invitation notifies no other instance (it changes nobody's access), and a revoked key is refused by the other
    /// instance as soon as the notification of its revocation arrives.
    @Test(.enabled(if: TestBackend.available.contains(.postgres)))
    func aKeyStaysCachedThroughRosterChangesAndItsRevocationReachesTheOtherInstance() async throws {
        try await TestApp.with(.postgres) { first in
            guard case .postgres(let url) = first.location else { return }
            let owner = try await first.verifiedPerson("owner@example.com")
            let org = try await first.createOrg(owner, slug: "acme")
            let created = try await first.send(.POST, "/v1/orgs/\(org)/api-keys", json: ["name": "IdP", "permissions": ["members.invite"]], token: owner)
            let key = try #require(created.string("key")), keyID = try #require(created.string("id"))
            try await withSecondInstance(of: first, url: url) { second, generation, deadline in
                func organization() async throws -> HTTPStatus { try await second.send(.GET, "/v1/orgs/\(org)", token: key).status }
                #expect(try await organization() == .ok)
                let hash = Secret.hash(key)

                // An invitation through the first instance changes nobody's access: it notifies no other instance,
                // and the key's answers stay current there.
                let before = generation.current, keysBefore = generation.apiKeys
                #expect(try await first.invite(key, org: org, email: "new@example.com").status == .created)
                #expect(try await organization() == .ok)

                // Revoking the key through the first instance ends it on the second at once. Notifications arrive
                // in commit order: once the revocation's has, an invitation's would have too.
                #expect(try await first.send(.DELETE, "/v1/orgs/\(org)/api-keys/\(keyID)", token: owner).status == .noContent)
                while generation.apiKeys == keysBefore && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                #expect(generation.apiKeys == keysBefore + 1)
                #expect(generation.current == before + 1, "the invitation notified the other instance")
                #expect(second.app.roster.access.cachedAPIKey(hash: hash) == nil)
                #expect(try await organization() == .unauthorized)
            }
        }
    }
}

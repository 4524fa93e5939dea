import Foundation
import Testing
import Vapor
import FluentPostgresDriver
import RosterTesting

/// On PostgreSQL the organization's lock reads the ladder in its own statement, which sees the roles as they were
/// before it waited: a role the lock's holder deleted or added must count as deleted or added all the same.
@Suite struct LockedRulesTests {
    /// Holds the organization's lock on a connection of its own while `change` runs in its transaction, sends
    /// `request` once it waits for the lock, and returns its response after the holder committed.
    func whileTheLockIsHeld(_ t: TestApp, org: String, change: PostgresQuery,
                            _ request: @escaping @Sendable () async throws -> TestResponse) async throws -> TestResponse {
        guard case .postgres(let url) = t.location, let orgID = UUID(uuidString: org) else { throw Abort(.internalServerError) }
        let holder = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(),
                                                          configuration: try SQLPostgresConfiguration(url: url).coreConfiguration,
                                                          id: 11, logger: t.app.logger)
        do {
            _ = try await holder.query("BEGIN", logger: t.app.logger)
            _ = try await holder.query("SELECT id FROM organizations WHERE id = \(orgID) FOR UPDATE", logger: t.app.logger)
            _ = try await holder.query(change, logger: t.app.logger)
            async let response = request()
            // Until the request waits for the lock (a condition, not a fixed delay).
            let deadline = ContinuousClock.now + .seconds(10)
            var waiting = 0
            while waiting == 0 && ContinuousClock.now < deadline {
                let rows = try await holder.query("SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))",
                                                  logger: t.app.logger)
                for try await count in rows.decode(Int.self) { waiting = count }
                if waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(waiting > 0, "the request did not wait for the organization's lock")
            _ = try await holder.query("COMMIT", logger: t.app.logger)
            let result = try await response
            try await holder.close()
            return result
        } catch {
            try? await holder.close()
            throw error
        }
    }

    @Test(.enabled(if: TestBackend.available.contains(.postgres)))
    func aRoleDeletedOrAddedWhileAnInvitationWaitsForTheLockIsSeen() async throws {
        try await TestApp.with(.postgres) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let orgID = try #require(UUID(uuidString: org))
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/coach", json: ["name": "Coach", "rank": 10, "permissions": ["scope.read"]],
                                     token: owner).status.code < 300)

            let deleted = try await whileTheLockIsHeld(t, org: org, change: "DELETE FROM roles WHERE org_id = \(orgID) AND key = 'coach'") {
                try await t.invite(owner, org: org, email: "first@example.com", role: "coach")
            }
            #expect(deleted.code == "unknown_role", "\(deleted.text)")

            let added = try await whileTheLockIsHeld(t, org: org, change: """
                INSERT INTO roles (id, org_id, ladder, key, name, rank, permissions) VALUES (\(UUID()), \(orgID), 'org', 'tutor', 'Tutor', 10, 'scope.read')
                """) {
                try await t.invite(owner, org: org, email: "second@example.com", role: "tutor")
            }
            #expect(added.status == .created, "\(added.text)")
        }
    }
}

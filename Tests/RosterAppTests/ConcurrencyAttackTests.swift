import Foundation
import Testing
import Vapor
import RosterTesting

/// DESIGN §2's invariants attacked by concurrent requests; each attack is repeated to catch a race.
@Suite struct ConcurrencyAttackTests {
    /// Rounds per attack: 50 on PostgreSQL, where transactions really interleave; SQLite serializes writers.
    static func rounds(_ backend: TestBackend) -> Int { backend == .postgres ? 50 : 12 }

    /// Runs `a` and `b` at once and returns both responses.
    func race(_ a: @escaping @Sendable () async throws -> TestResponse, _ b: @escaping @Sendable () async throws -> TestResponse) async throws -> (TestResponse, TestResponse) {
        async let first = a()
        async let second = b()
        return try await (first, second)
    }

    @Test(arguments: TestBackend.available)
    func acceptAgainstDeclineHasExactlyOneWinner(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let invitee = try await t.verifiedPerson("racer@example.com")
            for _ in 0..<Self.rounds(backend) {
                let id = try #require(try await t.invite(owner, org: org, email: "racer@example.com").string("id"))
                let (accept, decline) = try await race(
                    { try await t.send(.POST, "/v1/invitations/\(id)/accept", token: invitee) },
                    { try await t.send(.POST, "/v1/invitations/\(id)/decline", token: invitee) })
                #expect([accept.status, decline.status].filter { $0 == .ok }.count == 1)
                let final = try await t.member(owner, org: org, id: id).string("status")
                #expect(final == (accept.status == .ok ? "active" : "declined"))
                if final == "active" {
                    _ = try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(id)", token: owner)
                }
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func acceptAgainstRevokeHasExactlyOneWinner(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let invitee = try await t.verifiedPerson("racer@example.com")
            for _ in 0..<Self.rounds(backend) {
                let id = try #require(try await t.invite(owner, org: org, email: "racer@example.com").string("id"))
                let (accept, revoke) = try await race(
                    { try await t.send(.POST, "/v1/invitations/\(id)/accept", token: invitee) },
                    { try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(id)", token: owner) })
                let final = try await t.member(owner, org: org, id: id).string("status")
                // The DELETE is decided on the state it meets: it removes the now active member, or revokes.
                #expect(revoke.status == .noContent, "\(revoke.text)")
                if accept.status == .ok {
                    #expect(final == "removed")
                } else {
                    #expect(accept.status == .notFound)
                    #expect(revoke.status == .noContent)
                    #expect(final == "revoked")
                }
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func twoOwnersDemotingOrRemovingEachOtherKeepAnOwner(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let first = try await t.verifiedPerson("first@example.com")
            let second = try await t.verifiedPerson("second@example.com")
            for round in 0..<Self.rounds(backend) {
                let org = try await t.createOrg(first, name: "Duel \(round)")
                let firstRow = try #require((try await t.send(.GET, "/v1/orgs/\(org)/members?role=owner", token: first).json["items"] as? [[String: Any]])?.first?["id"] as? String)
                let secondRow = try #require(try await t.invite(first, org: org, email: "second@example.com", role: "owner").string("id"))
                #expect(try await t.send(.POST, "/v1/invitations/\(secondRow)/accept", token: second).status == .ok)
                let remove = round % 2 == 0
                _ = try await race(
                    { remove ? try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(secondRow)", token: first)
                             : try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(secondRow)", json: ["role": "member"], token: first) },
                    { remove ? try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(firstRow)", token: second)
                             : try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(firstRow)", json: ["role": "member"], token: second) })
                let key = try await t.apiKey()
                let owners = try await t.send(.GET, "/v1/orgs/\(org)/members?role=owner&status=active", token: key)
                #expect((owners.json["items"] as? [Any])?.count == 1, "round \(round): \(owners.status) \(owners.text.prefix(300))")
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func theSameEmailInvitedAtOnceMakesOneRow(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            for round in 0..<Self.rounds(backend) {
                let email = "twin\(round)@example.com"
                let (a, b) = try await race(
                    { try await t.invite(owner, org: org, email: email) },
                    { try await t.invite(owner, org: org, email: email.uppercased()) })
                #expect([a.status, b.status].sorted { $0.code < $1.code } == [.created, .conflict])
                #expect([a.code, b.code].compactMap { $0 } == ["already_invited"])
                let rows = try await t.send(.GET, "/v1/orgs/\(org)/members?q=\(email)", token: owner)
                #expect((rows.json["items"] as? [Any])?.count == 1)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func twoRowsClaimingOneExternalIDAtOnce(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            for round in 0..<Self.rounds(backend) {
                let (a, b) = try await race(
                    { try await t.invite(owner, org: org, email: "x\(round)@example.com", externalID: "S-\(round)") },
                    { try await t.invite(owner, org: org, email: "y\(round)@example.com", externalID: "S-\(round)") })
                #expect([a.status, b.status].filter { $0 == .created }.count == 1)
                #expect([a.code, b.code].compactMap { $0 } == ["external_id_taken"])
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func tenRowsClaimingOneExternalIDByPatchLeaveOneHolder(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            var ids: [String] = []
            for n in 0..<10 { ids.append(try #require(try await t.invite(owner, org: org, email: "p\(n)@example.com").string("id"))) }
            for round in 0..<Self.rounds(backend) {
                let statuses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                    for id in ids {
                        group.addTask { try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(id)", json: ["external_id": "E-\(round)"], token: owner) }
                    }
                    return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0.status == .ok }.count == 1, "round \(round): \(statuses.map(\.status.code))")
                #expect(statuses.filter { $0.status != .ok }.allSatisfy { $0.code == "external_id_taken" }, "round \(round): \(statuses.map { $0.text.prefix(120) })")
            }
        }
    }
}

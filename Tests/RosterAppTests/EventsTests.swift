import Foundation
import NIOConcurrencyHelpers
import Testing
import Fluent
import RosterCore
import RosterStore
import RosterStoreTesting
import RosterTesting
import Vapor

/// Issue 15, point 1: every change is an event, numbered in its organization in commit order, listed by
/// `GET /v1/orgs/{org}/events`.
@Suite struct EventsTests {
    func events(_ t: TestApp, _ org: String, token: String, query: String = "") async throws -> (items: [[String: Any]], next: Int, more: Bool) {
        let page = try await t.send(.GET, "/v1/orgs/\(org)/events\(query)", token: token)
        #expect(page.status == .ok, "\(page.text)")
        let items = try #require(page.json["items"] as? [[String: Any]])
        return (items, try #require(page.json["next_after"] as? Int), try #require(page.json["has_more"] as? Bool))
    }

    @Test(arguments: TestBackend.available)
    func everyChangeIsOneEventInCommitOrder(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let invitation = try #require(try await t.invite(owner, org: org, email: "bea@example.com", role: "admin").string("id"))
            let bea = try await t.verifiedPerson("bea@example.com")
            #expect(try await t.send(.POST, "/v1/invitations/\(invitation)/accept", token: bea).status == .ok)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(invitation)", json: ["role": "member"], token: owner).status == .ok)
            #expect(try await t.importCSV("/v1/orgs/\(org)", "email,role\ncy@example.com,member\ndee@example.com,member\n", token: owner).status == .ok)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["description": "Our roster"], token: owner).status == .ok)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(invitation)", token: owner).status == .noContent)

            let all = try await events(t, org, token: owner)
            #expect(all.items.map { $0["type"] as? String } == [
                "org.created", "membership.added", "membership.invited", "membership.accepted", "membership.role_changed",
                "membership.invited", "membership.invited", "org.updated", "membership.removed",
            ])
            #expect(all.items.map { $0["sequence"] as? Int } == Array(1...9).map(Optional.some), "numbered from 1 without gaps")
            #expect(all.next == 9 && !all.more)

            let roleChange = all.items[4]
            let membership = try #require((roleChange["data"] as? [String: Any])?["membership"] as? [String: Any])
            let previous = try #require((roleChange["data"] as? [String: Any])?["previous"] as? [String: Any])
            #expect(membership["id"] as? String == invitation && membership["email"] as? String == "bea@example.com")
            #expect(membership["role"] as? String == "member" && previous["role"] as? String == "admin" && membership["status"] as? String == "active")
            #expect((roleChange["actor"] as? [String: Any])?["type"] as? String == "account")

            // Polling: after the last number seen, only what followed; a filter by type (or prefix).
            let later = try await events(t, org, token: owner, query: "?after=6&limit=2")
            #expect(later.items.map { $0["sequence"] as? Int } == [7, 8] && later.next == 8 && later.more)
            let invited = try await events(t, org, token: owner, query: "?types=membership.invited,org.*")
            #expect(invited.items.map { $0["type"] as? String } == ["org.created", "membership.invited", "membership.invited", "membership.invited", "org.updated"])
            let unknown = try await t.send(.GET, "/v1/orgs/\(org)/events?types=membership.exploded", token: owner)
            #expect(unknown.status == .unprocessableEntity && unknown.code == "validation_failed")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/events?types=", token: owner).code == "validation_failed", "an empty filter is no filter")

            // Members without audit.read see no feed; strangers not even the organization.
            let cy = try await t.verifiedPerson("cy@example.com")
            let mine = try await t.send(.GET, "/v1/me/invitations", token: cy).json["items"] as? [[String: Any]]
            let cyID = try #require((mine?.first?["membership"] as? [String: Any])?["id"] as? String)
            #expect(try await t.send(.POST, "/v1/invitations/\(cyID)/accept", token: cy).status == .ok)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/events", token: cy).status == .forbidden)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/events", token: try await t.verifiedPerson("eve@example.com")).status == .notFound)
        }
    }

    /// An imported row's event shows its attributes as the API does (booleans as JSON booleans).
    @Test func anImportedRowsEventHoldsItsAttributes() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: [
                "name": "Course", "attributes": [["key": "track", "type": "enum", "values": ["a", "b"]], ["key": "paid", "type": "boolean"]],
            ], token: owner).string("id"))
            #expect(try await t.importCSV("/v1/spaces/\(space)", "email,track,paid\nada@example.com,b,yes\n", token: owner).status == .ok)
            let last = try await events(t, org, token: owner, query: "?types=membership.invited").items.last
            let membership = try #require((last?["data"] as? [String: Any])?["membership"] as? [String: Any])
            let attributes = try #require(membership["attributes"] as? [String: Any])
            #expect(attributes["track"] as? String == "b" && attributes["paid"] as? Bool == true, "\(attributes)")
            #expect(membership["email"] as? String == "ada@example.com" && membership["space_id"] as? String == space)
        }
    }

    /// A change that rolls back leaves no event, and takes no number.
    @Test(arguments: TestBackend.available)
    func aRolledBackChangeLeavesNoEventAndNoGap(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let orgText = try await t.send(.GET, "/v1/orgs/\(org)", token: owner).string("id")
            let orgID = try #require(orgText.flatMap(UUID.init(uuidString:)))
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await t.app.db.writeTransaction { db in
                    try await AuditLog(db).record(action: "organization.updated", actor: .commandLine, orgID: orgID,
                                                  before: nil, after: ["name": "Rolled back"], requestID: nil, at: Date())
                    throw Refused()
                }
            }
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["name": "Acme Two"], token: owner).status == .ok)
            let all = try await events(t, org, token: owner)
            #expect(all.items.map { $0["sequence"] as? Int } == [1, 2, 3])
            #expect(!all.items.contains { (($0["data"] as? [String: Any])?["after"] as? [String: Any])?["name"] as? String == "Rolled back" })
        }
    }

    /// Concurrent writers in one organization (PostgreSQL): numbers are unique and gapless, and a reader polling with
    /// `after` while they commit sees every event — a later number never commits before an earlier one.
    @Test(arguments: TestBackend.available)
    func aPollerDuringConcurrentChangesMissesNothing(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let writers = 16
            let writing = NIOLockedValueBox(writers)
            let seen = try await withThrowingTaskGroup(of: [Int].self) { group in
                for i in 0..<writers {
                    group.addTask {
                        defer { writing.withLockedValue { $0 -= 1 } }
                        let response = try await t.invite(owner, org: org, email: "p\(i)@example.com")
                        #expect(response.status == .created, "\(response.text)")
                        return []
                    }
                }
                group.addTask {
                    // Polls while the writers commit, then once more after the last one returned.
                    var seen: [Int] = [], after = 0, last = false
                    while !last {
                        last = writing.withLockedValue { $0 == 0 }
                        let page = try await events(t, org, token: owner, query: "?after=\(after)")
                        let numbers = page.items.compactMap { $0["sequence"] as? Int }
                        #expect(numbers == Array(numbers.sorted()))
                        if let first = numbers.first { #expect(first == after + 1, "no number skipped: after \(after) came \(first)") }
                        seen += numbers
                        after = page.next
                        if numbers.isEmpty && !last { try await Task.sleep(for: .milliseconds(2)) }
                        if page.more { last = false }
                    }
                    return seen
                }
                var all: [Int] = []
                for try await numbers in group { all += numbers }
                return all
            }
            #expect(seen == Array(1...(writers + 2)))
        }
    }
}

import Foundation
import Testing
import Fluent
import SQLKit
import Vapor
import RosterCore
import RosterStore
import RosterStoreTesting
import RosterTesting

/// Issue 15, point 4: sync imports, where the file is the truth for the roster.
@Suite struct SyncImportTests {
    func sync(_ report: TestResponse) -> [String: Any] { report.json["sync"] as? [String: Any] ?? [:] }
    func emails(_ section: String, _ report: TestResponse) -> Set<String> {
        Set((sync(report)[section] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String })
    }

    /// Live rows of the scope by email and status (from the database: what the roster holds).
    func live(_ t: TestApp, scopeID: String) async throws -> [String: (status: String, role: String)] {
        let rows = try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: scopeID)!)
            .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).all()
        #expect(Set(rows.map(\.email)).count == rows.count, "one live row per email (invariant 1)")
        return Dictionary(rows.map { ($0.email, ($0.status, $0.roleKey)) }, uniquingKeysWith: { first, _ in first })
    }

    @Test(arguments: TestBackend.available)
    func aTermRolloverDropsAddsAndChangesExactlyWhatTheFileSays(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "uni")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Course"], token: owner).string("id"))
            let students = (0..<500).map { "s\($0)@example.com" }
            let term1 = "email,role\n" + students.map { "\($0),viewer" }.joined(separator: "\n") + "\n"
            #expect(try await t.importCSV("/v1/spaces/\(space)", term1, token: owner).status == .ok)
            // Half of them accepted (as if from their emails): the roster holds active members and pending invitations.
            try await (t.app.db as! any SQLDatabase).raw("UPDATE memberships SET status = 'active' WHERE scope_id = \(bind: UUID(uuidString: space)!) AND email < 's3'").run()
            let before = try await live(t, scopeID: space)
            let activeBefore = before.filter { $0.value.status == "active" }.count
            #expect(before.count == 500 && activeBefore > 100 && activeBefore < 400)
            var eventsBefore = 0
            while true {
                let page = try await t.send(.GET, "/v1/orgs/\(org)/events?limit=200&after=\(eventsBefore)", token: owner)
                eventsBefore = try #require(page.json["next_after"] as? Int)
                if page.json["has_more"] as? Bool != true { break }
            }

            // Term 2: 30 dropped, 40 new, 10 promoted to editor.
            let dropped = Array(students[0..<15] + students[485..<500])
            let kept = students.filter { !dropped.contains($0) }
            let promoted = Set(kept.prefix(5) + kept.suffix(5))
            let added = (0..<40).map { "n\($0)@example.com" }
            let term2 = "email,role\n" + kept.map { "\($0),\(promoted.contains($0) ? "editor" : "viewer")" }.joined(separator: "\n") + "\n"
                + added.map { "\($0),viewer" }.joined(separator: "\n") + "\n"
            let preview = try await t.importCSV("/v1/spaces/\(space)", term2, token: owner, dryRun: true, query: "mode=sync")
            #expect(preview.status == .ok && sync(preview)["exceeded"] as? Bool == false)
            #expect(emails("removed", preview).union(emails("revoked", preview)) == Set(dropped), "the dry run lists what would end")
            #expect(try await live(t, scopeID: space).count == 500, "a dry run writes nothing")

            let applied = try await t.importCSV("/v1/spaces/\(space)", term2, token: owner, query: "mode=sync")
            #expect(applied.status == .ok, "\(applied.text.prefix(300))")
            #expect(emails("removed", applied).union(emails("revoked", applied)) == Set(dropped))
            #expect(emails("removed", applied) == Set(dropped.filter { before[$0]?.status == "active" }), "active → removed")
            #expect(emails("revoked", applied) == Set(dropped.filter { before[$0]?.status == "pending" }), "pending → revoked")
            let summary = try #require(applied.json["summary"] as? [String: Any])
            #expect(summary["invited"] as? Int == 40 && summary["updated"] as? Int == 10)
            let after = try await live(t, scopeID: space)
            #expect(after.count == 510 && Set(after.keys) == Set(kept + added))
            #expect(Set(after.filter { $0.value.role == "editor" }.keys) == promoted)

            // Audited and evented: one event per change.
            let page = try await t.send(.GET, "/v1/orgs/\(org)/events?after=\(eventsBefore)&limit=200", token: owner)
            let types = (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(types.filter { $0 == "membership.removed" }.count == emails("removed", applied).count)
            #expect(types.filter { $0 == "membership.revoked" }.count == emails("revoked", applied).count)
            #expect(types.filter { $0 == "membership.role_changed" }.count == 10 && types.filter { $0 == "membership.invited" }.count == 40)

            // The same file again changes nothing.
            let again = try await t.importCSV("/v1/spaces/\(space)", term2, token: owner, query: "mode=sync")
            #expect(sync(again)["removed"] as? [Any] == nil || emails("removed", again).isEmpty)
            #expect(emails("revoked", again).isEmpty && (again.json["summary"] as? [String: Any])?["updated"] as? Int == 0)
        }
    }

    @Test(arguments: TestBackend.available)
    func overTheThresholdNothingChangesUnlessTheCallRaisesIt(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Team"], token: owner).string("id"))
            let people = (0..<20).map { "p\($0)@example.com" }
            #expect(try await t.importCSV("/v1/spaces/\(space)", "email\n" + people.joined(separator: "\n") + "\n", token: owner).status == .ok)
            let smaller = "email\n" + people.prefix(15).joined(separator: "\n") + "\nnew@example.com\n"   // 5 of 20 end: 25 %

            let refused = try await t.importCSV("/v1/spaces/\(space)", smaller, token: owner, query: "mode=sync")
            #expect(refused.status == .unprocessableEntity && refused.code == "change_threshold_exceeded")
            #expect(refused.text.contains("5 of the roster's 20"))
            #expect(Set(try await live(t, scopeID: space).keys) == Set(people), "nothing changed, not even the new row")
            let preview = try await t.importCSV("/v1/spaces/\(space)", smaller, token: owner, dryRun: true, query: "mode=sync")
            #expect(preview.status == .ok && sync(preview)["exceeded"] as? Bool == true && emails("revoked", preview).count == 5)

            let bad = try await t.importCSV("/v1/spaces/\(space)", smaller, token: owner, query: "mode=sync&change_threshold=101")
            #expect(bad.status == .unprocessableEntity && bad.code == "validation_failed")
            #expect(try await t.importCSV("/v1/spaces/\(space)", smaller, token: owner, query: "mode=mirror").code == "validation_failed")
            #expect(try await t.importCSV("/v1/spaces/\(space)", smaller, token: owner, query: "change_threshold=50").code == "validation_failed")

            let raised = try await t.importCSV("/v1/spaces/\(space)", smaller, token: owner, query: "mode=sync&change_threshold=25")
            #expect(raised.status == .ok && emails("revoked", raised).count == 5)
            #expect(Set(try await live(t, scopeID: space).keys) == Set(people.prefix(15) + ["new@example.com"]))
        }
    }

    /// Owners, the importer and pending join requests stay; a removed organization member leaves its spaces too.
    @Test(arguments: TestBackend.available)
    func ownersTheImporterAndJoinRequestsStayAndRemovalsCascadeToSpaces(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme", settings: ["join_policy": "request"])
            let (memberToken, _) = try await t.addMember(owner: owner, org: org, email: "member@example.com")
            _ = try await t.addMember(owner: owner, org: org, email: "co-owner@example.com", role: "owner")
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin").token
            let asker = try await t.verifiedPerson("asker@example.com")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: asker).status == .created)
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Lab"], token: owner).string("id"))
            let invite = try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": "member@example.com"], token: owner)
            #expect(try await t.send(.POST, "/v1/invitations/\(try #require(invite.string("id")))/accept", token: memberToken).status == .ok)

            // The admin syncs a file listing only a newcomer.
            let report = try await t.importCSV("/v1/orgs/\(org)", "email\nnewcomer@example.com\n", token: admin, query: "mode=sync&change_threshold=100")
            #expect(report.status == .ok, "\(report.text.prefix(300))")
            #expect(emails("removed", report) == ["member@example.com"])
            let keptReasons = Dictionary((sync(report)["kept"] as? [[String: Any]] ?? []).map { ($0["email"] as! String, $0["reason"] as! String) }) { a, _ in a }
            #expect(keptReasons == ["owner@example.com": "owner", "co-owner@example.com": "owner", "admin@example.com": "importer",
                                    "asker@example.com": "join_request"])
            let orgRows = try await live(t, scopeID: try #require(try await t.send(.GET, "/v1/orgs/\(org)", token: owner).string("id")))
            #expect(Set(orgRows.keys) == ["owner@example.com", "co-owner@example.com", "admin@example.com", "asker@example.com", "newcomer@example.com"])
            #expect(try await live(t, scopeID: space).isEmpty, "the removed member's space membership ended with it")
        }
    }

    /// A sync and single invitations at once (PostgreSQL: truly concurrent): one live row per email, and each
    /// invitation either stands (after the sync) or was revoked by it (before) — nothing half done.
    @Test(arguments: TestBackend.available)
    func aSyncAndInvitationsAtOnceKeepEveryInvariant(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Team"], token: owner).string("id"))
            let people = (0..<100).map { "p\($0)@example.com" }
            #expect(try await t.importCSV("/v1/spaces/\(space)", "email\n" + people.joined(separator: "\n") + "\n", token: owner).status == .ok)
            let file = "email\n" + people.dropFirst(5).joined(separator: "\n") + "\n"
            let late = (0..<8).map { "late\($0)@example.com" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let report = try await t.importCSV("/v1/spaces/\(space)", file, token: owner, query: "mode=sync&change_threshold=50")
                    #expect(report.status == .ok, "\(report.text.prefix(200))")
                }
                for email in late {
                    group.addTask {
                        let invited = try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": email], token: owner)
                        #expect(invited.status == .created)
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await live(t, scopeID: space)
            #expect(Set(people.dropFirst(5)).isSubset(of: Set(rows.keys)) && people.prefix(5).allSatisfy { rows[$0] == nil })
            let ended = try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: space)!).filter(\.$email ~~ late).all()
            for email in late {
                let mine = ended.filter { $0.email == email }
                #expect(mine.count == 1 && ["pending", "revoked"].contains(mine[0].status), "\(email): \(mine.map(\.status))")
            }
        }
    }
}

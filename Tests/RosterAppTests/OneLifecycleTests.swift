import Foundation
import Testing
import Vapor
import Fluent
@testable import RosterApp
import RosterCore
import RosterStore
import RosterTesting

/// The behaviour of the "one lifecycle" issue, through every door that reaches it: an org membership's end reaches
/// its spaces, bulk endings end each row as its source allows, and the import obeys the single calls' authority.
@Suite struct OneLifecycleTests {
    /// An org with a space; `person` is an org member and an active space member, with a pending join request and a
    /// pending invitation in two more spaces. Returns the org, the spaces, the person's token and org membership id.
    func orgWithSpaceRows(_ t: TestApp, owner: String) async throws -> (org: String, spaces: [String], person: (token: String, membershipID: String)) {
        let org = try await t.createOrg(owner, name: "School")
        let person = try await t.addMember(owner: owner, org: org, email: "pupil@example.com")
        var spaces: [String] = []
        for name in ["Algebra", "Biology", "Chemistry"] {
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": name, "settings": ["join_policy": "request"]], token: owner).string("id"))
            spaces.append(space)
        }
        let invited = try await t.send(.POST, "/v1/spaces/\(spaces[0])/members", json: ["email": "pupil@example.com"], token: owner)
        #expect(try await t.send(.POST, "/v1/invitations/\(try #require(invited.string("id")))/accept", token: person.token).status == .ok)
        #expect(try await t.send(.POST, "/v1/spaces/\(spaces[1])/join-requests", json: [:], token: person.token).status == .created)
        #expect(try await t.send(.POST, "/v1/spaces/\(spaces[2])/members", json: ["email": "pupil@example.com"], token: owner).status == .created)
        return (org, spaces, person)
    }

    /// The person's rows in the three spaces, by status, as the API key sees them.
    func spaceStatuses(_ t: TestApp, spaces: [String], key: String) async throws -> [String] {
        var statuses: [String] = []
        for space in spaces {
            for status in ["active", "pending", "removed", "revoked", "withdrawn"] {
                let rows = try await t.send(.GET, "/v1/spaces/\(space)/members?status=\(status)&q=pupil", token: key)
                let requests = try await t.send(.GET, "/v1/spaces/\(space)/join-requests?status=\(status)", token: key)
                let items = ((rows.json["items"] as? [[String: Any]]) ?? []) + ((requests.json["items"] as? [[String: Any]]) ?? [])
                let mine = items.filter { $0["email"] as? String == "pupil@example.com" }
                if !mine.isEmpty { statuses.append("\(status)") }
            }
        }
        return statuses
    }

    /// A plan with more audit events than one statement takes parameters for (14 per event, 65,535 at most on
    /// PostgreSQL): deleting an organization of 5,000 members ends every row and records every event.
    @Test(arguments: TestBackend.available)
    func deletingAnOrganizationOfFiveThousandMembersEndsEveryRow(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, name: "Big")
            let csv = "email\n" + (0..<5000).map { "m\($0)@example.com" }.joined(separator: "\n")
            #expect(try await t.importCSV("/v1/orgs/\(org)", csv, token: owner).status == .ok)
            let orgID = try #require(UUID(uuidString: org))
            let events = { try await AuditEventModel.query(on: t.app.db).filter(\.$orgID == orgID).count() }
            let before = try await events()
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)", token: owner).status == .noContent)
            #expect(try await MembershipModel.query(on: t.app.db).filter(\.$orgID == orgID)
                .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).count() == 0)
            #expect(try await events() - before == 5002, "each of the 5,001 rows' endings and the deletion are audited")
        }
    }

    @Test(arguments: TestBackend.available, ["removed", "left", "account deleted", "org deleted"])
    func anOrgMembershipsEndReachesEverySpace(backend: TestBackend, how: String) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let (org, spaces, person) = try await orgWithSpaceRows(t, owner: owner)
            let key = try await t.apiKey()
            let personID = try #require(try await t.send(.GET, "/v1/me", token: person.token).string("id"))
            #expect(try await spaceStatuses(t, spaces: spaces, key: key) == ["active", "pending", "pending"])
            switch how {
            case "removed": #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(person.membershipID)", token: owner).status == .noContent)
            case "left": #expect(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: person.token).status == .noContent)
            case "account deleted":
                #expect(try await t.send(.DELETE, "/v1/me", json: ["password": "long enough password"], token: person.token).status == .noContent)
            default: #expect(try await t.send(.DELETE, "/v1/orgs/\(org)", token: owner).status == .noContent)
            }
            // The very next check refuses them on every space.
            for space in spaces {
                let answer = try await t.send(.POST, "/v1/authorize", json: ["account_id": personID, "space": space, "permission": "scope.read"], token: key)
                #expect(answer.json["allowed"] as? Bool == false, "\(how): \(answer.text)")
            }
            if how != "account deleted" {
                #expect(try await t.send(.GET, "/v1/spaces/\(spaces[0])", token: person.token).status == .notFound)
            }
            guard how != "org deleted" else { return }
            // Each row ended as its source allows, one audit event each.
            #expect(try await spaceStatuses(t, spaces: spaces, key: key) == ["removed", "withdrawn", "revoked"])
            let audit = try await t.send(.GET, "/v1/orgs/\(org)/audit?limit=200", token: key)
            let actions = ((audit.json["items"] as? [[String: Any]]) ?? []).filter { ($0["target"] as? [String: Any])?["email"] as? String == "pupil@example.com" }
                .compactMap { $0["action"] as? String }
            #expect(actions.filter { ["membership.removed", "join_request.withdrawn", "invitation.revoked", "membership.left"].contains($0) }.count == 4, "\(actions)")
        }
    }

    @Test(arguments: TestBackend.available)
    func deletingASpaceEndsEachRowAsItsSourceAllowsAndSupersedesItsEmails(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let (org, spaces, _) = try await orgWithSpaceRows(t, owner: owner)
            let key = try await t.apiKey()
            // The pending space invitation's email is queued, not yet sent (no worker runs in tests); those of the
            // accepted invitations went with their acceptance.
            #expect(try await t.emails(to: "pupil@example.com", kind: "invitation").count == 1)
            for space in spaces { #expect(try await t.send(.DELETE, "/v1/spaces/\(space)", token: owner).status == .noContent) }
            // The space invitations' unsent emails are superseded: their links are dead.
            #expect(try await t.emails(to: "pupil@example.com", kind: "invitation").isEmpty)
            let audit = try await t.send(.GET, "/v1/orgs/\(org)/audit?limit=200", token: key)
            let actions = ((audit.json["items"] as? [[String: Any]]) ?? []).compactMap { $0["action"] as? String }
            #expect(actions.filter { $0 == "space.deleted" }.count == 3)
            #expect(actions.contains("join_request.withdrawn") && actions.contains("invitation.revoked"))
            // The active space member is removed too (before, a deleted space kept its active rows live).
            #expect(actions.contains("membership.removed"))
        }
    }

    @Test(arguments: TestBackend.available)
    func theImportObeysTheSingleCallsAuthority(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, settings: ["join_policy": "request"])
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin")
            _ = try await t.addMember(owner: owner, org: org, email: "peer@example.com", role: "admin")
            let asker = try await t.verifiedPerson("asker@example.com")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: asker).status == .created)
            // A role that may import and invite but not review requests.
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/registrar", json: ["name": "Registrar", "rank": 150, "permissions": ["scope.read", "members.read", "members.invite", "imports.run"]], token: owner).status == .created)
            let registrar = try await t.addMember(owner: owner, org: org, email: "registrar@example.com", role: "registrar")
            let csv = "email,external_id\npeer@example.com,P-1\nasker@example.com,\nnew@example.com,N-1\n"
            func importAs(_ token: String, dryRun: Bool) async throws -> [String: String] {
                let response = try await t.send(.POST, "/v1/orgs/\(org)/imports?dry_run=\(dryRun)", token: token, body: Data(csv.utf8), headers: ["Content-Type": "text/csv"])
                #expect(response.status == .ok, "\(response.text)")
                var outcomes: [String: String] = [:]
                for row in (response.json["rows"] as? [[String: Any]]) ?? [] {
                    outcomes[row["email"] as? String ?? ""] = (row["reason"] as? String) ?? (row["outcome"] as? String)
                }
                return outcomes
            }
            // An admin may not change a fellow admin's external ID.
            let byAdmin = try await importAs(admin.token, dryRun: true)
            #expect(byAdmin["peer@example.com"] == "not_permitted")
            #expect(byAdmin["asker@example.com"] == "added")
            // An importer who may not review requests cannot let an import activate one.
            let byRegistrar = try await importAs(registrar.token, dryRun: false)
            #expect(byRegistrar["asker@example.com"] == "join_request_pending")
            #expect(byRegistrar["peer@example.com"] == "not_permitted")
            #expect(byRegistrar["new@example.com"] == "invited")
            let requests = try await t.send(.GET, "/v1/orgs/\(org)/join-requests", token: owner)
            #expect((requests.json["items"] as? [Any])?.count == 1)
            // An owner's import activates the request, and the requester is told, as by a single invitation.
            #expect(try await importAs(owner, dryRun: false)["asker@example.com"] == "added")
            #expect(try await t.emails(to: "asker@example.com", kind: "join_request_approved").count == 1)
        }
    }

    /// The web door: removing an org member from the members page ends their space rows as the API does.
    @Test(arguments: TestBackend.available)
    func removingAMemberOnTheWebPageEndsTheirSpaceRows(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let (org, spaces, person) = try await orgWithSpaceRows(t, owner: owner)
            let key = try await t.apiKey()
            let slug = try #require(try await t.send(.GET, "/v1/orgs/\(org)", token: owner).string("slug"))
            var headers = HTTPHeaders()
            headers.contentType = .urlEncodedForm
            headers.replaceOrAdd(name: .cookie, value: "roster_session=\(owner); roster_csrf=tok")
            let token = WebSession.formToken(session: owner)
            let removed = try await t.send(.POST, "/orgs/\(slug)/members/\(person.membershipID)/remove", body: Data("_csrf=\(token)".utf8), headers: headers)
            #expect(removed.status == .seeOther)
            #expect(try await t.member(owner, org: org, id: person.membershipID).string("status") == "removed")
            #expect(try await spaceStatuses(t, spaces: spaces, key: key) == ["removed", "withdrawn", "revoked"])
        }
    }

    /// The CLI door: `roster import` as an importer who may not review requests cannot activate one.
    @Test(arguments: TestBackend.available)
    func theCommandLineImportCannotActivateAJoinRequestWithoutAReviewer(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "uni", settings: ["join_policy": "request"])
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/registrar", json: ["name": "Registrar", "rank": 150, "permissions": ["scope.read", "members.read", "members.invite", "imports.run"]], token: owner).status == .created)
            _ = try await t.addMember(owner: owner, org: org, email: "registrar@example.com", role: "registrar")
            let asker = try await t.verifiedPerson("asker@example.com")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: asker).status == .created)
            let context = try await ImportCommand.scope(orgRef: "uni", spaceSlug: nil, actorEmail: "registrar@example.com", on: t.app.db)
            let (table, columns) = try RosterImport.read(Data("email\nasker@example.com\n".utf8), definitions: [])
            let report = try await RosterImport.run(table: table, columns: columns, context: context, dryRun: false, limits: t.app.roster.limits, on: t.app.db, requestID: nil)
            #expect(report.rows.map(\.reason) == [.joinRequestPending])
            let requests = try await t.send(.GET, "/v1/orgs/\(org)/join-requests", token: owner)
            #expect((requests.json["items"] as? [Any])?.count == 1, "the request is still pending")
        }
    }
}

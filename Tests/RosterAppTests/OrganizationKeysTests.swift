import Foundation
import Testing
import Vapor
import RosterCore
import RosterStoreTesting
import RosterTesting

/// Issue 15, point 3: organization API keys act with exactly their permissions, in their organization only, and
/// never as a person.
@Suite struct OrganizationKeysTests {
    @Test(arguments: TestBackend.available)
    func aKeyDoesWhatItsPermissionsAllowInItsOrganizationOnly(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let other = try await t.createOrg(owner, slug: "other")
            let created = try await t.send(.POST, "/v1/orgs/\(org)/api-keys",
                                           json: ["name": "CRM sync", "permissions": ["members.read", "members.invite"]], token: owner)
            #expect(created.json["permissions"] as? [String] == ["members.invite", "members.read", "scope.read"], "scope.read always comes with")
            #expect(created.status == .created, "\(created.text)")
            let key = try #require(created.string("key"))
            #expect(key.hasPrefix("rk_") && created.json["last_used_at"] is NSNull)
            let keyID = try #require(created.string("id"))

            // Within its permissions, in its organization.
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/members", token: key).status == .ok)
            let invited = try await t.invite(key, org: org, email: "new@example.com")
            #expect(invited.status == .created && invited.string("status") == "pending", "consent still holds: an invitation")
            let list = try await t.send(.GET, "/v1/orgs", token: key)
            #expect((list.json["items"] as? [[String: Any]])?.map { $0["slug"] as? String } == ["acme"])
            // Outside its subset: 403; other organizations: not there at all.
            let id = try #require(invited.string("id"))
            let member = try await t.addMember(owner: owner, org: org, email: "m@example.com").membershipID
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(member)", json: ["role": "admin"], token: key).status == .forbidden)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(member)", token: key).status == .forbidden)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["name": "Hijacked"], token: key).status == .forbidden)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/webhooks", token: key).status == .forbidden)
            #expect(try await t.send(.GET, "/v1/orgs/\(other)/members", token: key).status == .notFound)
            #expect(try await t.invite(key, org: other, email: "x@example.com").status == .notFound)
            // It manages no keys, creates no organizations and checks no permissions for the platform.
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/api-keys", token: key).status == .forbidden)
            #expect([.unauthorized, .forbidden].contains(try await t.send(.POST, "/v1/orgs", json: ["name": "Mine"], token: key).status))
            #expect(try await t.send(.POST, "/v1/authorize", json: ["account_id": UUID().uuidString, "org": "acme", "permission": "scope.read"],
                                     token: key).status == .forbidden)

            // Never as a person: no accepting, declining, requesting or leaving.
            #expect(try await t.send(.POST, "/v1/invitations/\(id)/accept", token: key).status == .notFound)
            #expect(try await t.send(.POST, "/v1/invitations/\(id)/decline", token: key).status == .notFound)
            #expect([.notFound, .forbidden, .unauthorized].contains(try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: key).status))
            #expect([.notFound, .forbidden, .unauthorized].contains(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: key).status))
            #expect(try await t.send(.GET, "/v1/me", token: key).status == .unauthorized)

            // Its use shows; revoked, it stops at once.
            // Its use is recorded beside the request (never holding it up): wait for it.
            var listed = try await t.send(.GET, "/v1/orgs/\(org)/api-keys", token: owner)
            for _ in 0..<400 where (listed.json["items"] as? [[String: Any]])?.first?["last_used_at"] is NSNull {
                try await Task.sleep(for: .milliseconds(20))
                listed = try await t.send(.GET, "/v1/orgs/\(org)/api-keys", token: owner)
            }
            let shown = try #require((listed.json["items"] as? [[String: Any]])?.first)
            #expect(shown["last_used_at"] is String && shown["key"] == nil, "the key itself is never shown again")
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/api-keys/\(keyID)", token: owner).status == .noContent)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/members", token: key).status == .unauthorized)
            let audit = try await t.send(.GET, "/v1/orgs/\(org)/audit", token: owner).text
            #expect(audit.contains("api_key.created") && audit.contains("api_key.revoked"))
        }
    }

    @Test(arguments: TestBackend.available)
    func aKeyLimitedToSpacesActsOnThoseSpacesOnly(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let course = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Course"], token: owner).string("id"))
            let lab = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Lab"], token: owner).string("id"))
            let created = try await t.send(.POST, "/v1/orgs/\(org)/api-keys", json: [
                "name": "LMS", "permissions": ["scope.read", "members.read", "members.invite", "imports.run"], "spaces": [course]], token: owner)
            let key = try #require(created.string("key"))
            #expect(try await t.send(.POST, "/v1/spaces/\(course)/members", json: ["email": "s@example.com"], token: key).status == .created)
            #expect(try await t.importCSV("/v1/spaces/\(course)", "email\na@example.com\n", token: key).status == .ok)
            #expect(try await t.send(.GET, "/v1/spaces/\(lab)/members", token: key).status == .notFound)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/members", token: key).status == .notFound, "the organization's own roster is not its")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/spaces", token: key).status == .notFound, "nor the list of its other spaces")

            // Only owners create keys, with known permissions and the organization's own spaces.
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin").token
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/api-keys", json: ["name": "x", "permissions": ["scope.read"]], token: admin).status == .forbidden)
            let bad = try await t.send(.POST, "/v1/orgs/\(org)/api-keys", json: ["name": "x", "permissions": ["everything"], "spaces": [UUID().uuidString]], token: owner)
            #expect(bad.status == .unprocessableEntity && bad.text.contains("permissions") && bad.text.contains("spaces"))
        }
    }
}

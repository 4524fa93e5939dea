import Foundation
import Testing
import Vapor
import RosterTesting
import RosterStore
import Fluent

/// Spaces reuse the membership table, transitions and routes of organizations.
@Suite struct SpacesTests {
    @Test(arguments: TestBackend.available)
    func aSpaceHasItsOwnRosterUnderTheSameRules(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, name: "University")
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin")
            let student = try await t.addMember(owner: owner, org: org, email: "student@example.com")

            let created = try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: [
                "name": "Algebra 101", "kind": "course",
                "attributes": [["key": "timeline", "type": "enum", "values": ["fixed", "fomo", "stragglers", "otot"], "default": "fixed"],
                               ["key": "phantom", "type": "boolean"]],
            ], token: admin.token)
            #expect(created.status == .created)
            #expect(created.string("slug") == "algebra-101")
            #expect(created.string("kind") == "course")
            let space = try #require(created.string("id"))
            // Members of the organization without a space role do not see the space.
            #expect(try await t.send(.GET, "/v1/spaces/\(space)", token: student.token).status == .notFound)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Mine"], token: student.token).code == "forbidden")

            // The org admin manages the space roster implicitly; the space ladder applies.
            let invited = try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": "student@example.com", "role": "editor", "attributes": ["phantom": true]], token: admin.token)
            #expect(invited.status == .created)
            #expect(invited.string("space_id") == space)
            // A boolean attribute is a JSON boolean, both ways.
            #expect(invited.text.contains(#""attributes":{"phantom":true,"timeline":"fixed"}"#), "\(invited.text)")
            #expect(try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": "x@example.com", "role": "admin"], token: admin.token).code == "unknown_role")
            let badAttribute = try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": "y@example.com", "attributes": ["timeline": "never", "colour": "red"]], token: admin.token)
            #expect(badAttribute.code == "validation_failed")
            #expect(badAttribute.text.contains("attributes.colour") && badAttribute.text.contains("attributes.timeline"))
            let email = try #require(try await t.emails(to: "student@example.com", kind: "invitation").last)
            #expect(email.subject.contains("Algebra 101 in University"))
            let token = try await t.invitationToken(for: "student@example.com")
            #expect((try await t.send(.GET, "/v1/invitation-tokens/\(token)").json["space"] as? [String: Any])?["name"] as? String == "Algebra 101")

            // The same person is in both rosters, one row each.
            let id = try #require(invited.string("id"))
            #expect(try await t.send(.POST, "/v1/invitations/\(id)/accept", token: student.token).string("status") == "active")
            #expect(try await t.send(.GET, "/v1/spaces/\(space)", token: student.token).status == .ok)
            let roster = try await t.send(.GET, "/v1/spaces/\(space)/members", token: student.token)
            #expect((roster.json["items"] as? [Any])?.count == 1)
            let orgRoster = try await t.send(.GET, "/v1/orgs/\(org)/members?q=student", token: owner)
            #expect((orgRoster.json["items"] as? [[String: Any]])?.first?["space_id"] is NSNull)

            // Attributes change through PATCH; editors cannot manage the roster.
            let patched = try await t.send(.PATCH, "/v1/spaces/\(space)/members/\(id)", json: ["attributes": ["timeline": "OTOT", "phantom": false]], token: admin.token)
            #expect(patched.text.contains(#""attributes":{"phantom":false,"timeline":"otot"}"#), "\(patched.text)")
            let listed = try await t.send(.GET, "/v1/spaces/\(space)/members", token: admin.token)
            #expect(listed.text.contains(#""phantom":false"#), "stored as a boolean, listed as one")
            #expect(try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": "z@example.com"], token: student.token).code == "forbidden")

            // Integrations ask about spaces too.
            let key = try await t.apiKey()
            let studentID = try #require(try await t.send(.GET, "/v1/me", token: student.token).string("id"))
            let check = try await t.send(.POST, "/v1/authorize", json: ["account_id": studentID, "space": space, "permission": "members.read"], token: key)
            #expect(check.json["allowed"] as? Bool == true)
            #expect(check.string("role") == "editor")

            // Leaving the space leaves the organization membership alone; there is no last owner in a space.
            #expect(try await t.send(.POST, "/v1/spaces/\(space)/leave", token: student.token).status == .noContent)
            #expect(try await t.send(.GET, "/v1/spaces/\(space)", token: student.token).status == .notFound)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)", token: student.token).status == .ok)
            let after = try await t.send(.POST, "/v1/authorize", json: ["account_id": studentID, "space": space, "permission": "scope.read"], token: key)
            #expect(after.json["allowed"] as? Bool == false)

            // A space role held in any space of the organization cannot be deleted; once nobody holds it, it can.
            _ = try await t.send(.PUT, "/v1/orgs/\(org)/roles/space/tutor", json: ["name": "Tutor", "rank": 50, "permissions": ["scope.read"]], token: owner)
            let tutor = try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": "tutor@example.com", "role": "tutor"], token: owner)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/roles/space/tutor", token: owner).code == "role_in_use")
            let tutorID = try #require(tutor.string("id"))
            #expect(try await t.send(.DELETE, "/v1/spaces/\(space)/members/\(tutorID)", token: owner).status == .noContent)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/roles/space/tutor", token: owner).status == .noContent)
        }
    }

    @Test(arguments: TestBackend.available)
    func spaceSettingsJoinRequestsAndDeletion(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let member = try await t.addMember(owner: owner, org: org, email: "m@example.com")
            let outsider = try await t.verifiedPerson("outsider@example.com")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Lab", "settings": ["join_policy": "request", "seat_limit": 5]], token: owner).string("id"))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Lab"], token: owner).string("slug") == "lab-2")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Lab", "slug": "lab"], token: owner).code == "slug_taken")
            #expect(try await t.send(.PATCH, "/v1/spaces/\(space)", json: ["settings": ["colour": 1]], token: owner).code == "validation_failed")
            #expect(try await t.send(.PATCH, "/v1/spaces/\(space)", json: ["attributes": [["key": "email", "type": "boolean"]]], token: owner).code == "validation_failed")

            // Only members of the organization may ask to join one of its spaces.
            #expect(try await t.send(.POST, "/v1/spaces/\(space)/join-requests", json: [:], token: outsider).status == .notFound)
            let request = try await t.send(.POST, "/v1/spaces/\(space)/join-requests", json: [:], token: member.token)
            #expect(request.status == .created)
            #expect(request.string("role") == "viewer")
            let approved = try await t.send(.POST, "/v1/spaces/\(space)/join-requests/\(request.string("id") ?? "")/approve", json: ["role": "manager"], token: owner)
            #expect(approved.string("status") == "active")
            #expect(approved.string("role") == "manager")

            let list = try await t.send(.GET, "/v1/orgs/\(org)/spaces", token: member.token)
            #expect((list.json["items"] as? [Any])?.count == 2)
            let pending = try #require(try await t.send(.POST, "/v1/spaces/\(space)/members", json: ["email": "p@example.com"], token: owner).string("id"))
            #expect(try await t.send(.DELETE, "/v1/spaces/\(space)", token: member.token).status == .noContent)
            #expect(try await t.send(.GET, "/v1/spaces/\(space)", token: owner).status == .notFound)
            // Its pending invitations end with it.
            #expect(try await MembershipModel.find(UUID(uuidString: pending), on: t.app.db)?.status == "revoked")
        }
    }

    /// Issue 14, point 6: a space has its own audit log (its events only), read with `audit.read` there.
    @Test(arguments: TestBackend.available)
    func aSpaceHasItsOwnAuditLog(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            var spaces: [String] = []
            for name in ["Algebra", "Biology"] {
                spaces.append(try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": name], token: owner).string("id")))
            }
            #expect(try await t.send(.POST, "/v1/spaces/\(spaces[0])/members", json: ["email": "pupil@example.com"], token: owner).status == .created)
            #expect(try await t.send(.POST, "/v1/spaces/\(spaces[1])/members", json: ["email": "other@example.com"], token: owner).status == .created)
            let audit = try await t.send(.GET, "/v1/spaces/\(spaces[0])/audit", token: owner)
            #expect(audit.status == .ok)
            let items = try #require(audit.json["items"] as? [[String: Any]])
            let actions = items.compactMap { $0["action"] as? String }
            #expect(actions.contains("membership.invited") && actions.contains("space.created"), "\(actions)")
            #expect(!items.contains { ($0["target"] as? [String: Any])?["email"] as? String == "other@example.com" }, "only this space's events")
            let member = try await t.addMember(owner: owner, org: org, email: "member@example.com")
            let stranger = try await t.send(.GET, "/v1/spaces/\(spaces[0])/audit", token: member.token)
            #expect([.forbidden, .notFound].contains(stranger.status), "an org member outside the space: \(stranger.status)")
        }
    }
}

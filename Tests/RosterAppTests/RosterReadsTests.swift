import Foundation
import Testing
import Vapor
import RosterTesting

/// Members lists, audit, "my" lists, roles and `POST /v1/authorize`.
@Suite struct RosterReadsTests {
    @Test(arguments: TestBackend.available)
    func membersListFiltersSearchesAndPages(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            for i in 0..<7 {
                try await t.invite(owner, org: org, email: "p\(i)@example.com", role: i % 2 == 0 ? "member" : "admin", externalID: i == 3 ? "50%_off" : "S\(i)")
            }
            let all = try await t.send(.GET, "/v1/orgs/\(org)/members?limit=3", token: owner)
            #expect((all.json["items"] as? [[String: Any]])?.count == 3)
            var emails: [String] = []
            var cursor = all.string("next_cursor")
            emails += (all.json["items"] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String }
            while let next = cursor {
                let page = try await t.send(.GET, "/v1/orgs/\(org)/members?limit=3&cursor=\(next)", token: owner)
                emails += (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String }
                cursor = page.string("next_cursor")
            }
            #expect(emails == emails.sorted())
            #expect(emails.count == 8)
            #expect(Set(emails).count == 8)

            let admins = try await t.send(.GET, "/v1/orgs/\(org)/members?role=admin", token: owner)
            #expect((admins.json["items"] as? [Any])?.count == 3)
            let pending = try await t.send(.GET, "/v1/orgs/\(org)/members?status=pending&source=invitation", token: owner)
            #expect((pending.json["items"] as? [Any])?.count == 7)
            // `%` and `_` are literal, matching is case-insensitive over name, email and external ID.
            let literal = try await t.send(.GET, "/v1/orgs/\(org)/members?q=50%25_", token: owner)
            #expect((literal.json["items"] as? [[String: Any]])?.map { $0["email"] as? String } == ["p3@example.com"])
            let byEmail = try await t.send(.GET, "/v1/orgs/\(org)/members?q=P5@", token: owner)
            #expect((byEmail.json["items"] as? [Any])?.count == 1)

            // The search index follows changes.
            let p5 = try #require((byEmail.json["items"] as? [[String: Any]])?.first?["id"] as? String)
            _ = try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(p5)", json: ["external_id": "Renumbered-77"], token: owner)
            #expect((try await t.send(.GET, "/v1/orgs/\(org)/members?q=renumbered-7", token: owner).json["items"] as? [Any])?.count == 1)
            #expect((try await t.send(.GET, "/v1/orgs/\(org)/members?q=S5", token: owner).json["items"] as? [Any])?.count == 0)

            for bad in ["limit=0", "limit=201", "status=sleeping", "cursor=%%%", "source=magic"] {
                let response = try await t.send(.GET, "/v1/orgs/\(org)/members?\(bad)", token: owner)
                #expect(response.status == .unprocessableEntity, "\(bad)")
                #expect(response.code == "validation_failed")
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func everyTransitionIsAudited(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let member = try await t.addMember(owner: owner, org: org, email: "m@example.com")
            _ = try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(member.membershipID)", json: ["role": "admin"], token: owner,
                                 headers: ["X-Request-Id": "req-audit-1"])
            let audit = try await t.send(.GET, "/v1/orgs/\(org)/audit", token: owner)
            let events = try #require(audit.json["items"] as? [[String: Any]])
            #expect(events.compactMap { $0["action"] as? String } == [
                "membership.role_changed", "invitation.accepted", "membership.invited", "membership.created", "organization.created",
            ])
            let change = events[0]
            #expect((change["before"] as? [String: String])?["role"] == "member")
            #expect((change["after"] as? [String: String])?["role"] == "admin")
            #expect((change["actor"] as? [String: Any])?["type"] as? String == "account")
            #expect(change["request_id"] as? String == "req-audit-1")
            // Reading the audit log needs audit.read.
            let plain = try await t.addMember(owner: owner, org: org, email: "plain@example.com")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/audit", token: plain.token).code == "forbidden")
            let page = try await t.send(.GET, "/v1/orgs/\(org)/audit?limit=2", token: owner)
            let next = try #require(page.string("next_cursor"))
            let second = try await t.send(.GET, "/v1/orgs/\(org)/audit?limit=2&cursor=\(next)", token: owner)
            let firstIDs = (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            let secondIDs = (second.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(secondIDs.count == 2 && Set(firstIDs).isDisjoint(with: secondIDs))
        }
    }

    @Test(arguments: TestBackend.available)
    func authorizeAnswersFromCurrentDataOnly(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let member = try await t.addMember(owner: owner, org: org, email: "m@example.com")
            let memberID = try #require(try await t.send(.GET, "/v1/me", token: member.token).string("id"))
            let key = try await t.apiKey()
            func ask(_ permission: String, org ref: String = "acme") async throws -> TestResponse {
                try await t.send(.POST, "/v1/authorize", json: ["account_id": memberID, "org": ref, "permission": permission], token: key)
            }
            #expect(try await ask("members.read").json["allowed"] as? Bool == true)
            #expect(try await ask("members.read").string("role") == "member")
            #expect(try await ask("members.invite", org: org).json["allowed"] as? Bool == false)
            #expect(try await ask("members.read", org: "nope").json["allowed"] as? Bool == false)
            #expect(try await ask("members.fly").code == "validation_failed")
            // People cannot call it.
            #expect(try await t.send(.POST, "/v1/authorize", json: ["account_id": memberID, "org": "acme", "permission": "scope.read"], token: owner).code == "forbidden")

            // A change is seen by the very next check: promotion, then removal.
            _ = try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(member.membershipID)", json: ["role": "admin"], token: owner)
            #expect(try await ask("members.invite").json["allowed"] as? Bool == true)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(member.membershipID)", token: owner).status == .noContent)
            let removed = try await ask("members.read")
            #expect(removed.json["allowed"] as? Bool == false)
            #expect(removed.json["role"] is NSNull)
        }
    }

    @Test(arguments: TestBackend.available)
    func customRolesAndTheirLimits(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let created = try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/observer", json: ["name": "Observer", "rank": 50, "permissions": ["scope.read", "audit.read"]], token: owner)
            #expect(created.status == .created)
            let roles = try await t.send(.GET, "/v1/orgs/\(org)/roles", token: owner)
            #expect((roles.json["org_roles"] as? [[String: Any]])?.compactMap { $0["key"] as? String } == ["owner", "admin", "member", "observer"])
            #expect((roles.json["space_roles"] as? [[String: Any]])?.compactMap { $0["key"] as? String } == ["manager", "editor", "viewer"])
            // Invitations default to the lowest role now.
            #expect(try await t.invite(owner, org: org, email: "o@example.com").string("role") == "observer")
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/roles/org/observer", token: owner).code == "role_in_use")
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/owner", json: ["name": "Boss", "rank": 999, "permissions": []], token: owner).code == "forbidden")
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/boss", json: ["name": "Boss", "rank": 400, "permissions": []], token: owner).code == "validation_failed")
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/bad", json: ["name": "Bad", "rank": 10, "permissions": ["fly"]], token: owner).code == "validation_failed")
            #expect(try await t.invite(owner, org: org, email: "x@example.com", role: "wizard").code == "unknown_role")
            let admin = try await t.addMember(owner: owner, org: org, email: "a@example.com", role: "admin")
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/helper", json: ["name": "H", "rank": 60, "permissions": []], token: admin.token).code == "forbidden")
            // A role manager below the owner cannot raise their own role or define roles at or above it.
            _ = try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/steward", json: ["name": "Steward", "rank": 150, "permissions": ["scope.read", "roles.manage"]], token: owner)
            let steward = try await t.addMember(owner: owner, org: org, email: "s@example.com", role: "steward")
            for (key, rank, permissions) in [("steward", 150, ["scope.read", "roles.manage", "members.remove"]), ("admin", 200, ["scope.read"]),
                                             ("deputy", 180, ["scope.read"]), ("helper", 60, ["members.remove"])] {
                let response = try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/\(key)", json: ["name": key, "rank": rank, "permissions": permissions], token: steward.token)
                #expect(response.code == "role_escalation", "\(key)")
            }
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/helper", json: ["name": "Helper", "rank": 60, "permissions": ["scope.read"]], token: steward.token).status == .created)
        }
    }

    @Test(arguments: TestBackend.available)
    func organizationsAreListedReadAndUpdated(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let first = try await t.createOrg(owner, name: "Ünïcode Org!")
            let second = try await t.createOrg(owner, name: "Ünïcode Org!")
            let a = try await t.send(.GET, "/v1/orgs/\(first)", token: owner)
            let b = try await t.send(.GET, "/v1/orgs/\(second)", token: owner)
            #expect(a.string("slug") == "unicode-org")
            #expect(b.string("slug") == "unicode-org-2")
            #expect(try await t.send(.GET, "/v1/orgs/unicode-org", token: owner).string("id") == first)
            let taken = try await t.send(.POST, "/v1/orgs", json: ["name": "X", "slug": "unicode-org"], token: owner)
            #expect(taken.code == "slug_taken")
            let badSettings = try await t.send(.PATCH, "/v1/orgs/\(first)", json: ["settings": ["invitation_ttl_days": 91, "colour": "red"]], token: owner)
            #expect(badSettings.code == "validation_failed")
            #expect(badSettings.text.contains("settings.colour"))
            let updated = try await t.send(.PATCH, "/v1/orgs/\(first)", json: ["name": "Renamed", "settings": ["seat_limit": 10]], token: owner)
            #expect(updated.string("name") == "Renamed")
            #expect((updated.json["settings"] as? [String: Any])?["seat_limit"] as? Int == 10)
            let list = try await t.send(.GET, "/v1/orgs?limit=1", token: owner)
            #expect((list.json["items"] as? [Any])?.count == 1)
            #expect(list.string("next_cursor") != nil)
            let stranger = try await t.verifiedPerson("stranger@example.com")
            #expect(try await t.send(.GET, "/v1/orgs/\(first)", token: stranger).status == .notFound)
            #expect((try await t.send(.GET, "/v1/orgs", token: stranger).json["items"] as? [Any])?.isEmpty == true)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(first)", token: owner).status == .noContent)
            #expect(try await t.send(.GET, "/v1/orgs/\(first)", token: owner).status == .notFound)
        }
    }
}

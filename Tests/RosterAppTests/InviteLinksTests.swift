import Foundation
import Testing
import Fluent
import SQLKit
import Vapor
import RosterCore
import RosterStore
import RosterStoreTesting
import RosterTesting

/// Issue 16, point 1: shareable invite links with limits, under every invariant.
@Suite struct InviteLinksTests {
    func code(_ link: TestResponse) throws -> String {
        let url = try #require(link.string("url"))
        return String(try #require(url.split(separator: "/").last))
    }

    /// Many people at once through a link with 10 uses (truly concurrent on PostgreSQL): exactly 10 join.
    @Test(arguments: TestBackend.available)
    func fiftyJoinsThroughALinkOfTenUsesMakeExactlyTenMembers(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let link = try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "member", "max_uses": 10], token: owner)
            #expect(link.status == .created && link.string("url")?.hasPrefix("http://roster.test/j/") == true, "\(link.text)")
            let code = try code(link)
            var people: [String] = []
            for i in 0..<50 { people.append(try await t.verifiedPerson("p\(i)@example.com")) }
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for token in people { group.addTask { try await t.send(.POST, "/v1/invite-links/\(code)/join", token: token).status } }
                var all: [HTTPStatus] = []
                for try await status in group { all.append(status) }
                return all
            }
            #expect(statuses.filter { $0 == .created }.count == 10, "\(statuses)")
            #expect(statuses.filter { $0 == .gone }.count == 40)
            let rows = try await MembershipModel.query(on: t.app.db).filter(\.$source == MembershipSource.link.rawValue).all()
            #expect(rows.count == 10 && rows.allSatisfy { $0.status == "active" && $0.roleKey == "member" })
            let shown = try #require((try await t.send(.GET, "/v1/orgs/\(org)/invite-links", token: owner).json["items"] as? [[String: Any]])?.first)
            #expect(shown["uses"] as? Int == 10 && shown["state"] as? String == "exhausted" && shown["url"] == nil)
            let preview = try await t.send(.GET, "/v1/invite-links/\(code)")
            #expect(preview.status == .ok && preview.string("state") == "exhausted" && preview.string("organization") == "Acme")
            let events = try await t.send(.GET, "/v1/orgs/\(org)/events?types=membership.joined", token: owner).json["items"] as? [[String: Any]]
            #expect(events?.count == 10)
        }
    }

    /// A role that an invite link (not turned off) or an `auto` domain gives cannot be deleted: people would join in a
    /// role that no longer exists.
    @Test func aRoleALinkOrAnAutoDomainGivesIsNotDeleted() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            for (key, rank) in [("ta", 50), ("intern", 60)] {
                let role = try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/\(key)", json: ["name": key, "rank": rank, "permissions": ["scope.read"]], token: owner)
                #expect(role.status == .created, "\(role.text)")
            }
            let link = try #require(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "ta"], token: owner).string("id"))
            let kept = try await t.send(.DELETE, "/v1/orgs/\(org)/roles/org/ta", token: owner)
            #expect(kept.status == .conflict && kept.code == "role_in_use", "\(kept.text)")
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/invite-links/\(link)", token: owner).status == .noContent)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/roles/org/ta", token: owner).status == .noContent)

            let domain = try #require(try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "acme.test", "policy": "auto", "role": "intern"],
                                                       token: owner).string("id"))
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/roles/org/intern", token: owner).code == "role_in_use")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(domain)", json: ["policy": "suggest"], token: owner).status == .ok)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/roles/org/intern", token: owner).status == .noContent)
        }
    }

    /// An admin does not turn off the link an owner made for a role above the admin's; the owner does.
    @Test func onlyWhoMayGrantItsRoleTurnsALinkOff() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/lead", json: ["name": "Lead", "rank": 250, "permissions": ["scope.read"]],
                                     token: owner).status == .created)
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin")
            let leads = try #require(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "lead"], token: owner).string("id"))
            let members = try #require(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "member"], token: owner).string("id"))
            let refused = try await t.send(.DELETE, "/v1/orgs/\(org)/invite-links/\(leads)", token: admin.token)
            #expect(refused.status == .forbidden && refused.code == "role_escalation", "\(refused.text)")
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/invite-links/\(members)", token: admin.token).status == .noContent)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/invite-links/\(leads)", token: owner).status == .noContent)
        }
    }

    /// The join page as people meet it: an unknown code is a 404 page, an unverified account is told to verify first
    /// (no Join button to fail), and joining a space names the space.
    @Test func theJoinPageSaysWhatToDo() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Physics"], token: owner).string("id"))
            let code = try code(try await t.send(.POST, "/v1/spaces/\(space)/invite-links", json: [:], token: owner))
            func page(_ path: String, as token: String) async throws -> TestResponse {
                var headers = HTTPHeaders()
                headers.replaceOrAdd(name: .cookie, value: "roster_session=\(token); roster_csrf=x")
                return try await t.send(.GET, path, headers: headers)
            }
            let unknown = try await page("/j/nonsense", as: owner)
            #expect(unknown.status == .notFound && unknown.text.contains("This link is not available"))
            try await t.signUp("new@example.com")
            let unverified = try await page("/j/\(code)", as: try await t.signIn("new@example.com"))
            #expect(unverified.status == .ok && unverified.text.contains("Verify your email address first") && !unverified.text.contains("id=\"join\""))
            let shown = try await page("/j/\(code)", as: owner)
            #expect(shown.text.contains("id=\"join\""))
            // The owner is an organization member: joining the space names it.
            var headers = HTTPHeaders()
            headers.replaceOrAdd(name: .cookie, value: "roster_session=\(owner); roster_csrf=x")
            headers.contentType = .urlEncodedForm
            let marker = "name=\"_csrf\" value=\""
            let csrf = try #require(shown.text.range(of: marker).map { String(shown.text[$0.upperBound...].prefix { $0 != "\"" }) })
            let joined = try await t.send(.POST, "/j/\(code)", body: Data("_csrf=\(csrf)".utf8), headers: headers)
            #expect(joined.status == .seeOther && joined.headers.first(name: .location) == "/spaces/\(space.lowercased())", "\(joined.headers)")
            // The notice travels in a cookie, base64-encoded.
            let notices = joined.headers[.setCookie].compactMap { cookie in
                Data(base64Encoded: String(cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1).last ?? "")).map { String(decoding: $0, as: UTF8.self) }
            }
            #expect(notices.contains { $0.contains("You joined Physics in") }, "\(notices)")

            // A used-up link says so once, also on the page a refused join comes back to (its notice says it).
            let used = try self.code(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["max_uses": 1], token: owner))
            #expect(try await t.send(.POST, "/v1/invite-links/\(used)/join", token: try await t.verifiedPerson("first@example.com")).status == .created)
            let late = try await t.verifiedPerson("late@example.com")
            let why = try #require(InviteLinkState.exhausted.whyUnusable)
            let before = try await page("/j/\(used)", as: late)
            #expect(before.text.components(separatedBy: why).count == 2 && before.text.contains("id=\"link-state\""), "said once, by the page")
            let lateCSRF = try #require(before.text.range(of: marker).map { String(before.text[$0.upperBound...].prefix { $0 != "\"" }) })
            var lateHeaders = HTTPHeaders()
            lateHeaders.replaceOrAdd(name: .cookie, value: "roster_session=\(late); roster_csrf=x")
            lateHeaders.contentType = .urlEncodedForm
            let refused = try await t.send(.POST, "/j/\(used)", body: Data("_csrf=\(lateCSRF)".utf8), headers: lateHeaders)
            #expect(refused.status == .seeOther && refused.headers.first(name: .location) == "/j/\(used)")
            let flash = refused.headers[.setCookie].map { String($0.split(separator: ";")[0]) }.joined(separator: "; ")
            lateHeaders.replaceOrAdd(name: .cookie, value: "roster_session=\(late); roster_csrf=x; \(flash)")
            let after = try await t.send(.GET, "/j/\(used)", headers: lateHeaders)
            #expect(after.text.components(separatedBy: why).count == 2 && !after.text.contains("id=\"link-state\""), "said once, by the notice: \(after.text)")
        }
    }

    /// The list of links is paged like every list (keyset cursor, newest first), never silently cut.
    @Test(arguments: TestBackend.available)
    func theLinksAreListedPageByPageNewestFirst(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            var created: [String] = []
            for uses in 1...5 {
                created.append(try #require(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["max_uses": uses], token: owner).string("id")))
            }
            var seen: [String] = [], cursor: String?
            repeat {
                let page = try await t.send(.GET, "/v1/orgs/\(org)/invite-links?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: owner)
                let items = try #require(page.json["items"] as? [[String: Any]])
                #expect(page.status == .ok && items.count <= 2)
                seen += items.compactMap { $0["id"] as? String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == created.reversed())
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/invite-links?cursor=nonsense", token: owner).code == "validation_failed")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/invite-links?limit=201", token: owner).code == "validation_failed")
        }
    }

    @Test(arguments: TestBackend.available)
    func domainsApprovalExpiryRevocationAndRankLimitALink(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@school.edu")
            let org = try await t.createOrg(owner, slug: "school")
            // Only school addresses.
            let school = try code(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["allowed_email_domains": ["@School.edu"]], token: owner))
            let outsider = try await t.verifiedPerson("kid@gmail.com")
            let refused = try await t.send(.POST, "/v1/invite-links/\(school)/join", token: outsider)
            #expect(refused.status == .forbidden && refused.code == "email_domain_not_allowed")
            let student = try await t.verifiedPerson("kid@school.edu")
            let joined = try await t.send(.POST, "/v1/invite-links/\(school)/join", token: student)
            #expect(joined.status == .created && joined.string("source") == "link" && joined.string("role") == "member")
            #expect(try await t.send(.POST, "/v1/invite-links/\(school)/join", token: student).code == "already_member")
            #expect(try await t.send(.POST, "/v1/invite-links/\(school)/join", token: try await t.apiKey()).status != .created, "keys never join")

            // With approval: a pending join request for a reviewer.
            let approval = try code(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["requires_approval": true], token: owner))
            let asker = try await t.verifiedPerson("asker@school.edu")
            let asked = try await t.send(.POST, "/v1/invite-links/\(approval)/join", token: asker)
            #expect(asked.status == .created && asked.string("status") == "pending" && asked.string("source") == "join_request")
            #expect(try await t.emails(to: "owner@school.edu", kind: "join_request").count == 1)

            // Expired, revoked: said plainly.
            let past = try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["expires_at": "2020-01-01T00:00:00Z"], token: owner)
            #expect(past.status == .unprocessableEntity && past.text.contains("must be in the future"))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["expires_at": "2030-02-30T00:00:00Z"], token: owner).code == "validation_failed")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["expires_at": "2030-02-28T12:00:00.5+02:00"], token: owner).status == .created)
            let expiring = try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["expires_at": "2099-01-01T00:00:00Z"], token: owner)
            let expiringID = try #require(expiring.string("id").flatMap(UUID.init(uuidString:)))
            try await (t.app.db as! any SQLDatabase).update("invite_links").set("expires_at", to: Date().addingTimeInterval(-1)).where("id", .equal, expiringID).run()
            let late = try await t.send(.POST, "/v1/invite-links/\(try code(expiring))/join", token: try await t.verifiedPerson("late@school.edu"))
            #expect(late.status == .gone && late.code == "link_unusable" && late.text.contains("expired"))
            let revokedLink = try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: [:], token: owner)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/invite-links/\(try #require(revokedLink.string("id")))", token: owner).status == .noContent)
            let off = try await t.send(.POST, "/v1/invite-links/\(try code(revokedLink))/join", token: try await t.verifiedPerson("off@school.edu"))
            #expect(off.status == .gone && off.text.contains("turned off"))
            #expect(try await t.send(.POST, "/v1/invite-links/not-a-code/join", token: student).status == .notFound)

            // A link's role is at most one its creator may grant.
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@school.edu", role: "admin").token
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "owner"], token: admin).code == "validation_failed")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "admin"], token: admin).status == .forbidden)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "member"], token: admin).status == .created)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/invite-links", token: student).status == .forbidden)
            // Never an owner through a link, whoever makes it: ownership is given to someone named.
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: ["role": "owner"], token: owner).code == "validation_failed")

            // Someone an admin removed does not come back through the link; someone who left does.
            let open = try code(try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: [:], token: owner))
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(try #require(joined.string("id")))", token: owner).status == .noContent)
            let back = try await t.send(.POST, "/v1/invite-links/\(open)/join", token: student)
            #expect(back.status == .forbidden && back.text.contains("ended by an admin"), "\(back.text)")
            let leaver = try await t.verifiedPerson("leaver@school.edu")
            #expect(try await t.send(.POST, "/v1/invite-links/\(open)/join", token: leaver).status == .created)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: leaver).status == .noContent)
            #expect(try await t.send(.POST, "/v1/invite-links/\(open)/join", token: leaver).status == .created)
            // An approval link counts toward the pending join requests an account may have (one by default).
            let other = try await t.createOrg(owner, name: "Other", slug: "other")
            let otherApproval = try code(try await t.send(.POST, "/v1/orgs/\(other)/invite-links", json: ["requires_approval": true], token: owner))
            #expect(try await t.send(.POST, "/v1/invite-links/\(otherApproval)/join", token: asker).code == "join_request_pending")
            // A deleted organization's link leads nowhere.
            #expect(try await t.send(.DELETE, "/v1/orgs/\(other)", token: owner).status == .noContent)
            #expect(try await t.send(.GET, "/v1/invite-links/\(otherApproval)").status == .notFound)
        }
    }

    /// A membership (or join request) remembers the link it came through, and the lists filter by it: after turning
    /// off a link that went too far, an owner sees who used it.
    @Test(arguments: TestBackend.available)
    func theMembersALinkBroughtAreListedByIt(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            func link(_ body: [String: Any]) async throws -> (id: String, code: String) {
                let made = try await t.send(.POST, "/v1/orgs/\(org)/invite-links", json: body, token: owner)
                return (try #require(made.string("id")), try code(made))
            }
            let leaked = try await link([:]), kept = try await link([:]), approval = try await link(["requires_approval": true])
            var joined: [String: TestResponse] = [:]
            for (email, through) in [("a@example.com", leaked), ("b@example.com", leaked), ("c@example.com", kept), ("d@example.com", approval)] {
                joined[email] = try await t.send(.POST, "/v1/invite-links/\(through.code)/join", token: try await t.verifiedPerson(email))
            }
            #expect(joined["a@example.com"]?.string("invite_link_id") == leaked.id)
            #expect(joined["d@example.com"]?.string("invite_link_id") == approval.id && joined["d@example.com"]?.string("status") == "pending")
            func emails(_ path: String) async throws -> [String] {
                let items = try await t.send(.GET, path, token: owner).json["items"] as? [[String: Any]] ?? []
                return items.compactMap { $0["email"] as? String }
            }
            #expect(try await emails("/v1/orgs/\(org)/members?invite_link=\(leaked.id)") == ["a@example.com", "b@example.com"])
            #expect(try await emails("/v1/orgs/\(org)/members?invite_link=\(kept.id)") == ["c@example.com"])
            #expect(try await emails("/v1/orgs/\(org)/join-requests?invite_link=\(approval.id)") == ["d@example.com"])
            #expect(try await emails("/v1/orgs/\(org)/members").contains("owner@example.com"), "no filter, everyone")
            let bad = try await t.send(.GET, "/v1/orgs/\(org)/members?invite_link=nope", token: owner)
            #expect(bad.status == .unprocessableEntity && bad.text.contains("invite_link"))

            // On the pages: each link leads to the members it brought, and the list says it is narrowed.
            var headers = HTTPHeaders()
            headers.replaceOrAdd(name: .cookie, value: "roster_session=\(owner); roster_csrf=x")
            let links = try await t.send(.GET, "/orgs/acme/invite-links", headers: headers)
            let whoJoined = "/orgs/acme?invite_link=\(leaked.id.lowercased())"
            #expect(links.text.contains("href=\"\(whoJoined)\""), "\(links.text)")
            let brought = try await t.send(.GET, whoJoined, headers: headers)
            #expect(brought.status == .ok && brought.text.contains("id=\"link-filter\""))
            #expect(brought.text.contains("a@example.com") && brought.text.contains("b@example.com") && !brought.text.contains("c@example.com"))
        }
    }

    /// A space's link serves its organization's members.
    @Test(arguments: TestBackend.available)
    func aSpacesLinkIsForTheOrganizationsMembers(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Course"], token: owner).string("id"))
            let link = try await t.send(.POST, "/v1/spaces/\(space)/invite-links", json: ["role": "editor", "max_uses": 5], token: owner)
            let code = try code(link)
            #expect(try await t.send(.GET, "/v1/invite-links/\(code)").string("space") == "Course")
            let stranger = try await t.verifiedPerson("stranger@example.com")
            #expect(try await t.send(.POST, "/v1/invite-links/\(code)/join", token: stranger).status == .forbidden)
            let member = try await t.addMember(owner: owner, org: org, email: "member@example.com").token
            let joined = try await t.send(.POST, "/v1/invite-links/\(code)/join", token: member)
            #expect(joined.status == .created && joined.string("role") == "editor" && joined.string("space_id") != nil)
        }
    }
}

import Foundation
import Testing
import Fluent
import Vapor
@testable import RosterApp
import RosterCore
import RosterStore
import RosterStoreTesting
import RosterTesting
import SQLKit

/// Issue 16, point 3: the SCIM server's consent rule, deactivation and errors (scim2-tester checks the protocol in
/// integration-tests/).
@Suite struct SCIMTests {
    struct Org { var id: String; var owner: String; var key: String; var scim: String }

    func scimOrg(_ t: TestApp, slug: String = "acme", permissions: [String] = ["scim"]) async throws -> Org {
        let owner = try await t.verifiedPerson("owner@\(slug).test")
        let org = try await t.createOrg(owner, slug: slug)
        let key = try await t.send(.POST, "/v1/orgs/\(org)/api-keys", json: ["name": "Okta", "permissions": permissions], token: owner)
        return Org(id: org, owner: owner, key: try #require(key.string("key")), scim: "/scim/v2/orgs/\(org)")
    }

    func verify(_ domain: String, in org: Org, _ t: TestApp) async throws {
        let records = PublishedRecords()
        t.app.roster.txtResolver = records
        let added = try await t.send(.POST, "/v1/orgs/\(org.id)/domains", json: ["domain": domain], token: org.owner)
        records.publish(domain, .records([((added.json["verification"] as? [String: Any])?["value"] as? String) ?? ""]))
        #expect(try await t.send(.POST, "/v1/orgs/\(org.id)/domains/\(try #require(added.string("id")))/verify", token: org.owner).status == .ok)
    }

    func scim(_ t: TestApp, _ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil, token: String?) async throws -> TestResponse {
        var headers = HTTPHeaders()
        headers.contentType = SCIM.contentType
        return try await t.send(method, path, body: try body.map { try JSONSerialization.data(withJSONObject: $0) }, headers: token.map {
            var h = headers
            h.bearerAuthorization = BearerAuthorization(token: $0)
            return h
        } ?? headers)
    }

    func row(_ t: TestApp, email: String, org: String) async throws -> MembershipModel? {
        try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: org)!).filter(\.$email == email)
            .sort(\.$createdAt, .descending).first()
    }

    @Test(arguments: TestBackend.available)
    func membershipOnlyWhereTheDomainIsVerifiedOtherwiseAnInvitation(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let org = try await scimOrg(t)
            // Unverified domain: an invitation (consent), no account made.
            let ann = try await scim(t, .POST, "\(org.scim)/Users", ["schemas": [SCIM.userSchema], "userName": "Ann@Acme.test",
                                                                      "name": ["givenName": "Ann", "familyName": "Lee"]], token: org.key)
            #expect(ann.status == .created && ann.headers.contentType?.subType == "scim+json" && ann.string("userName") == "ann@acme.test", "\(ann.text)")
            #expect(ann.headers.first(name: .location)?.hasSuffix("/Users/\(try #require(ann.string("id")))") == true)
            let annRow = try #require(try await row(t, email: "ann@acme.test", org: org.id))
            #expect(annRow.status == "pending" && annRow.source == "invitation" && annRow.name == "Ann Lee")
            #expect(try await t.emails(to: "ann@acme.test", kind: "invitation").count == 1)
            #expect(try await AccountModel.query(on: t.app.db).filter(\.$email == "ann@acme.test").count() == 0)

            try await verify("acme.test", in: org, t)
            // Verified domain, no account: an active member (source scim) with a new verified account.
            let bob = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "bob@acme.test", "externalId": "B-1"], token: org.key)
            #expect(bob.status == .created)
            let bobRow = try #require(try await row(t, email: "bob@acme.test", org: org.id))
            let bobAccount = try #require(try await AccountModel.query(on: t.app.db).filter(\.$email == "bob@acme.test").first())
            #expect(bobRow.status == "active" && bobRow.source == "scim" && bobRow.accountID == bobAccount.id && bobRow.externalID == "B-1")
            #expect(bobAccount.emailVerifiedAt != nil)
            // Nobody knows the new account's password (not even the dummy one).
            let signIn = try await t.send(.POST, "/v1/sessions", json: ["email": "bob@acme.test", "password": "roster-dummy-password"])
            #expect(signIn.status == .unauthorized)
            // Verified domain but an account that never proved the address: still an invitation.
            try await t.signUp("carol@acme.test")
            #expect(try await scim(t, .POST, "\(org.scim)/Users", ["userName": "carol@acme.test"], token: org.key).status == .created)
            #expect(try await row(t, email: "carol@acme.test", org: org.id)?.status == "pending")
            // A verified account: joins as itself.
            _ = try await t.verifiedPerson("dave@acme.test")
            #expect(try await scim(t, .POST, "\(org.scim)/Users", ["userName": "dave@acme.test"], token: org.key).status == .created)
            let dave = try #require(try await row(t, email: "dave@acme.test", org: org.id))
            let daveAccount = try await AccountModel.query(on: t.app.db).filter(\.$email == "dave@acme.test").first()
            #expect(dave.status == "active" && dave.accountID == daveAccount?.id)
            // An existing member is adopted (no second row), with the provider's external ID.
            let erin = try await t.addMember(owner: org.owner, org: org.id, email: "erin@elsewhere.test")
            let adopted = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "erin@elsewhere.test", "externalId": "E-1"], token: org.key)
            #expect(adopted.status == .created)
            let erinRow = try #require(try await row(t, email: "erin@elsewhere.test", org: org.id))
            #expect(erinRow.id?.uuidString == erin.membershipID && erinRow.externalID == "E-1" && erinRow.source == "invitation")

            // Uniqueness, filters, paging.
            let again = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "bob@acme.test"], token: org.key)
            #expect(again.status == .conflict && again.string("scimType") == "uniqueness" && (again.json["schemas"] as? [String]) == [SCIM.errorSchema])
            let taken = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "frank@acme.test", "externalId": "B-1"], token: org.key)
            #expect(taken.status == .conflict, "the external ID rule of memberships: \(taken.text)")
            let byName = try await scim(t, .GET, "\(org.scim)/Users?filter=userName%20eq%20%22BOB@acme.test%22", token: org.key)
            #expect(byName.json["totalResults"] as? Int == 1 && ((byName.json["Resources"] as? [[String: Any]])?.first?["externalId"] as? String) == "B-1")
            let byExternal = try await scim(t, .GET, "\(org.scim)/Users?filter=externalId%20eq%20%22E-1%22", token: org.key)
            #expect(((byExternal.json["Resources"] as? [[String: Any]])?.first?["userName"] as? String) == "erin@elsewhere.test")
            // Form encoding, as some providers send it: `+` for spaces, the address's `@` escaped; the projection read with it.
            let formEncoded = try await scim(t, .GET, "\(org.scim)/Users?filter=userName+eq+%22bob%40acme.test%22&attributes=externalId", token: org.key)
            let found = (formEncoded.json["Resources"] as? [[String: Any]])?.first
            #expect(found?["externalId"] as? String == "B-1" && found?["userName"] == nil, "\(formEncoded.text)")
            let page = try await scim(t, .GET, "\(org.scim)/Users?startIndex=2&count=2", token: org.key)
            #expect(page.json["totalResults"] as? Int == 5 && page.json["itemsPerPage"] as? Int == 2 && page.json["startIndex"] as? Int == 2)
            let events = try await t.send(.GET, "/v1/orgs/\(org.id)/events?types=membership.added", token: org.owner).json["items"] as? [[String: Any]]
            #expect(events?.compactMap { ($0["data"] as? [String: Any])?["membership"] as? [String: Any] }.filter { $0["source"] as? String == "scim" }.count == 2)
        }
    }

    @Test(arguments: TestBackend.available)
    func deactivatingEndsTheMembershipEverywhereAndActivatingProvisionsItAgain(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let org = try await scimOrg(t)
            try await verify("acme.test", in: org, t)
            let bob = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "bob@acme.test", "active": true], token: org.key)
            let bobID = try #require(bob.string("id"))
            let group = try await scim(t, .POST, "\(org.scim)/Groups", ["displayName": "Team", "members": [["value": bobID]]], token: org.key)
            #expect(group.status == .created && ((group.json["members"] as? [[String: Any]])?.first?["value"] as? String) == bobID, "\(group.text)")
            let spaceID = try #require(group.string("id"))
            let spaceRow = try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: spaceID)!).first()
            #expect(spaceRow?.status == "active" && spaceRow?.source == "scim")

            // Entra's form: "Replace", and a string for the boolean.
            let off = try await scim(t, .PATCH, "\(org.scim)/Users/\(bobID)", ["schemas": [SCIM.patchSchema],
                "Operations": [["op": "Replace", "path": "active", "value": "False"]]], token: org.key)
            #expect(off.status == .ok && off.json["active"] as? Bool == false, "\(off.text)")
            let ended = try await MembershipModel.query(on: t.app.db).filter(\.$email == "bob@acme.test").all()
            #expect(ended.count == 2 && ended.allSatisfy { $0.status == "removed" }, "the org row and, with it, the space row")
            #expect((try await scim(t, .GET, "\(org.scim)/Groups/\(spaceID)", token: org.key).json["members"]) == nil)
            // An inactive user does not come back through a group.
            let regrouped = try await scim(t, .PATCH, "\(org.scim)/Groups/\(spaceID)", ["schemas": [SCIM.patchSchema],
                "Operations": [["op": "add", "path": "members", "value": [["value": bobID]]]]], token: org.key)
            #expect(regrouped.status == .badRequest && regrouped.string("scimType") == "invalidValue", "\(regrouped.text)")
            #expect(try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: spaceID)!).filter(\.$status == "active").count() == 0)
            // Found by name however cased; read-only paths, values missing and sub-attributes of a member are refused.
            let found = try await scim(t, .GET, "\(org.scim)/Groups?filter=displayName%20eq%20%22TEAM%22", token: org.key)
            #expect(found.json["totalResults"] as? Int == 1, "\(found.text)")
            for (operation, scimType) in [(["op": "replace", "path": "id", "value": "x"], "mutability"),
                                          (["op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"], "mutability"),
                                          (["op": "add", "path": "members"], "invalidValue"),
                                          (["op": "remove", "path": "members[value eq \"\(bobID)\"].display"], "invalidPath")] as [([String: Any], String)] {
                let refused = try await scim(t, .PATCH, "\(org.scim)/Groups/\(spaceID)", ["schemas": [SCIM.patchSchema], "Operations": [operation]], token: org.key)
                #expect(refused.status == .badRequest && refused.string("scimType") == scimType, "\(operation): \(refused.text)")
            }

            let on = try await scim(t, .PATCH, "\(org.scim)/Users/\(bobID)", ["schemas": [SCIM.patchSchema],
                "Operations": [["op": "replace", "value": ["active": true, "displayName": "Bob B."]]]], token: org.key)
            #expect(on.status == .ok && on.json["active"] as? Bool == true && on.string("id") == bobID)
            let back = try #require(try await row(t, email: "bob@acme.test", org: org.id))
            #expect(back.status == "active" && back.name == "Bob B." && back.id != spaceRow?.id)

            // DELETE ends the membership; the user is gone and the address free for a new one.
            #expect(try await scim(t, .DELETE, "\(org.scim)/Users/\(bobID)", token: org.key).status == .noContent)
            let gone = try await scim(t, .GET, "\(org.scim)/Users/\(bobID)", token: org.key)
            #expect(gone.status == .notFound && gone.string("status") == "404")
            #expect(try await row(t, email: "bob@acme.test", org: org.id)?.status == "removed")
            #expect(try await scim(t, .POST, "\(org.scim)/Users", ["userName": "bob@acme.test"], token: org.key).status == .created)
            // Deleting the group deletes the space.
            #expect(try await scim(t, .DELETE, "\(org.scim)/Groups/\(spaceID)", token: org.key).status == .noContent)
            #expect(try await t.send(.GET, "/v1/spaces/\(spaceID)", token: org.owner).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func whatProvidersSendIsAnsweredAndHostileInputIsRefused(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let org = try await scimOrg(t)
            // Paging far past the end answers an empty page (no overflow).
            for resource in ["Users", "Groups"] {
                let far = try await scim(t, .GET, "\(org.scim)/\(resource)?startIndex=9223372036854775807&count=200", token: org.key)
                #expect(far.status == .ok && far.json["totalResults"] as? Int == 0, "\(resource): \(far.text)")
            }
            // A value with spaces (Entra looks groups up by name before creating them); a NUL is refused, not a 500.
            let team = try await scim(t, .POST, "\(org.scim)/Groups", ["displayName": "Sales Team"], token: org.key)
            let byName = try await scim(t, .GET, "\(org.scim)/Groups?filter=displayName%20eq%20%22Sales%20Team%22", token: org.key)
            #expect(byName.json["totalResults"] as? Int == 1 && ((byName.json["Resources"] as? [[String: Any]])?.first?["id"] as? String) == team.string("id"))
            let nul = try await scim(t, .GET, "\(org.scim)/Users?filter=externalId%20eq%20%22a%00b%22", token: org.key)
            #expect(nul.status == .badRequest && nul.string("scimType") == "invalidFilter", "\(nul.text)")
            // External IDs follow the membership's rule (trimmed; at most 200 characters), so an export imports back.
            let long = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "long@acme.test", "externalId": String(repeating: "x", count: 201)], token: org.key)
            #expect(long.status == .badRequest && long.string("scimType") == "invalidValue")
            let ann = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "ann@acme.test", "externalId": "  A-1 ",
                                                                      "name": ["givenName": "Ann", "familyName": "Lee"]], token: org.key)
            let annRow = try await row(t, email: "ann@acme.test", org: org.id)
            #expect(ann.string("externalId") == "A-1" && annRow?.externalID == "A-1")
            // replace of name keeps the sub-attribute it does not name (RFC 7644 §3.5.2.3).
            let renamed = try await scim(t, .PATCH, "\(org.scim)/Users/\(try #require(ann.string("id")))", ["schemas": [SCIM.patchSchema],
                "Operations": [["op": "replace", "path": "name", "value": ["givenName": "Anne"]]]], token: org.key)
            #expect((renamed.json["name"] as? [String: Any])?["familyName"] as? String == "Lee" && (renamed.json["name"] as? [String: Any])?["givenName"] as? String == "Anne")
            // The roster shows the name the provider sets, its display name first.
            #expect(try await row(t, email: "ann@acme.test", org: org.id)?.name == "Anne Lee")
            _ = try await scim(t, .PATCH, "\(org.scim)/Users/\(try #require(ann.string("id")))", ["schemas": [SCIM.patchSchema],
                "Operations": [["op": "replace", "path": "displayName", "value": "Dr. Anne Lee"]]], token: org.key)
            #expect(try await row(t, email: "ann@acme.test", org: org.id)?.name == "Dr. Anne Lee")
            // An owner is not the provider's to adopt: it could never end that membership.
            let owner = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "owner@acme.test"], token: org.key)
            #expect(owner.status == .forbidden && (owner.json["schemas"] as? [String]) == [SCIM.errorSchema], "\(owner.text)")
            // A member who is no user of this organization: 400, and no group made.
            let stray = try await scim(t, .POST, "\(org.scim)/Groups", ["displayName": "Stray", "members": [["value": UUID().uuidString]]], token: org.key)
            #expect(stray.status == .badRequest && stray.string("scimType") == "invalidValue")
            #expect(try await SpaceModel.query(on: t.app.db).filter(\.$name == "Stray").count() == 0)

            // A pending join request is approved when the provider provisions the person (they asked; it says yes).
            let open = try await t.createOrg(org.owner, name: "Open", slug: "open", settings: ["join_policy": "request"])
            let key = try await t.send(.POST, "/v1/orgs/\(open)/api-keys", json: ["name": "Okta", "permissions": ["scim"]], token: org.owner)
            let gail = try await t.verifiedPerson("gail@open.test")
            #expect(try await t.send(.POST, "/v1/orgs/\(open)/join-requests", json: [:], token: gail).status == .created)
            let provisioned = try await scim(t, .POST, "/scim/v2/orgs/\(open)/Users", ["userName": "gail@open.test", "externalId": "G-1"],
                                             token: key.string("key"))
            #expect(provisioned.status == .created, "\(provisioned.text)")
            let gailRow = try #require(try await row(t, email: "gail@open.test", org: open))
            #expect(gailRow.status == "active" && gailRow.source == "join_request" && gailRow.externalID == "G-1")
            #expect(try await t.emails(to: "gail@open.test", kind: "join_request_approved").count == 1)
        }
    }

    /// A provider retrying a create at once: the invitee's facts, read before the organization's lock, are stale
    /// for all but one; each loser runs again under the lock and gets the uniqueness error, and one user and one
    /// membership are left.
    @Test(arguments: TestBackend.available)
    func oneUserNameCreatedEightTimesAtOnceMakesOneUser(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let org = try await scimOrg(t)
            let statuses = try await withThrowingTaskGroup(of: (HTTPStatus, String?).self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let created = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "twin@acme.test", "externalId": "T-1"], token: org.key)
                        return (created.status, created.string("scimType"))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0.0 == .created }.count == 1)
            #expect(statuses.filter { $0.0 == .conflict && $0.1 == "uniqueness" }.count == 7, "\(statuses)")
            #expect(try await SCIMUserModel.query(on: t.app.db).filter(\.$userName == "twin@acme.test").count() == 1)
            #expect(try await MembershipModel.query(on: t.app.db).filter(\.$email == "twin@acme.test").count() == 1)
        }
    }

    /// Thirty creates at once into ten seats, with a budget of four invitation emails an hour. On PostgreSQL they
    /// share transactions (`ProvisioningQueue`: rows written together share a transaction id), and still exactly
    /// ten are made, and no hour sends more than four of their emails.
    @Test(arguments: TestBackend.available)
    func manyCreatesAtOnceKeepTheSeatLimitAndTheInvitationBudget(backend: TestBackend) async throws {
        try await TestApp.with(backend, limits: .init(invitationsPerHour: 4)) { t in
            let org = try await scimOrg(t)
            // The owner holds the eleventh seat.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org.id)", json: ["settings": ["seat_limit": 11]], token: org.owner).status == .ok)
            let start = Date()
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for n in 0..<30 {
                    group.addTask { try await scim(t, .POST, "\(org.scim)/Users", ["userName": "u\(n)@acme.test"], token: org.key).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 10, "\(statuses)")
            #expect(statuses.filter { $0 == .conflict }.count == 20, "\(statuses)")
            let invited = try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: org.id)!)
                .filter(\.$status == MembershipStatus.pending.rawValue).all()
            #expect(invited.count == 10)
            let slots = try await OutboxMessageModel.query(on: t.app.db).filter(\.$kind == "invitation").all().compactMap(\.scheduledAt).sorted()
            #expect(slots.count == 10)
            #expect(slots.filter { $0 < start + 60 }.count == 4, "four go at once: \(slots)")
            for first in slots { #expect(slots.filter { $0 >= first && $0 < first + 3600 }.count <= 4, "an hour from \(first) holds more than four") }
            if backend == .postgres {
                // Rows one statement wrote share their transaction id and command number.
                let statements = try await (t.app.db as! any SQLDatabase).raw("""
                    SELECT count(DISTINCT (xmin::text, cmin::text)) AS n FROM memberships WHERE scope_id = \(bind: UUID(uuidString: org.id)!) AND status = 'pending'
                    """).first(decoding: [String: Int].self)
                #expect((statements?["n"] ?? 10) < 10, "the creates were not written together")
            }
        }
    }

    /// Many creates at once into an organization without a seat limit, half of them active members of a verified
    /// domain and half invitations: on PostgreSQL the creates that share a transaction are written in one statement.
    /// Each user is made with their own row, account or email; the invitation budget holds; and the organization's
    /// events are numbered without a gap or a repeat.
    @Test(arguments: TestBackend.available)
    func manyCreatesAtOnceWithoutASeatLimitMakeEveryUserWithTheirOwnRowsAndNumberedEvents(backend: TestBackend) async throws {
        try await TestApp.with(backend, limits: .init(invitationsPerHour: 4)) { t in
            let org = try await scimOrg(t)
            try await verify("verified.test", in: org, t)
            let orgID = try #require(UUID(uuidString: org.id))
            let start = Date()
            let names = (0..<32).map { "u\($0)@\($0.isMultiple(of: 2) ? "verified" : "acme").test" }
            let created = try await withThrowingTaskGroup(of: (String, TestResponse).self) { group in
                for name in names {
                    group.addTask { (name, try await scim(t, .POST, "\(org.scim)/Users", ["userName": name, "externalId": "x-\(name)"], token: org.key)) }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(created.values.allSatisfy { $0.status == .created }, "\(created.mapValues(\.status))")
            for (name, response) in created {
                let user = try #require(try await SCIMUserModel.find(UUID(uuidString: response.string("id") ?? ""), on: t.app.db))
                let row = try #require(try await MembershipModel.find(user.membershipID, on: t.app.db))
                #expect(user.userName == name && row.email == name && row.externalID == "x-\(name)")
                #expect(row.status == (name.hasSuffix("@verified.test") ? MembershipStatus.active : .pending).rawValue, "\(name)")
                if name.hasSuffix("@verified.test") {
                    let account = try #require(try await AccountModel.find(row.accountID, on: t.app.db))
                    #expect(account.email == name && account.emailVerifiedAt != nil)
                }
            }
            let slots = try await OutboxMessageModel.query(on: t.app.db).filter(\.$kind == "invitation").all()
            #expect(Set(slots.map(\.recipient)) == Set(names.filter { $0.hasSuffix("@acme.test") }))
            let sendTimes = slots.compactMap(\.scheduledAt).sorted()
            #expect(sendTimes.filter { $0 < start + 60 }.count == 4, "four go at once: \(sendTimes)")
            for first in sendTimes { #expect(sendTimes.filter { $0 >= first && $0 < first + 3600 }.count <= 4, "an hour from \(first) holds more than four") }
            let events = try await AuditEventModel.query(on: t.app.db).filter(\.$orgID == orgID).sort(\.$seq).all()
            let numbers = events.compactMap(\.seq)
            #expect(numbers == Array(1...Int64(events.count)), "\(numbers)")
            let provisioned = events.filter { $0.targetEmail.map(names.contains) == true }
            #expect(provisioned.count == 32)
            if backend == .postgres {
                // Rows one statement wrote share their transaction id and command number.
                let statements = try await (t.app.db as! any SQLDatabase).raw("""
                    SELECT count(DISTINCT (xmin::text, cmin::text)) AS n FROM memberships WHERE scope_id = \(bind: orgID) AND email LIKE 'u%'
                    """).first(decoding: [String: Int].self)
                #expect((statements?["n"] ?? 32) < 32, "the creates were not written together")
            }
        }
    }

    /// A user created twice among many at once (an identity provider retrying): on PostgreSQL the transaction the
    /// two share fails at the second; that one runs alone and gets its 409, and the others are made together.
    @Test(arguments: TestBackend.available)
    func aUserCreatedTwiceAmongManyAtOnceFailsAloneAndTheOthersAreMade(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let org = try await scimOrg(t)
            let names = (0..<15).map { "u\($0)@acme.test" } + ["u7@acme.test"]
            let statuses = try await withThrowingTaskGroup(of: (String, HTTPStatus).self) { group in
                for name in names {
                    group.addTask { (name, try await scim(t, .POST, "\(org.scim)/Users", ["userName": name], token: org.key).status) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0.1 == .created }.count == 15, "\(statuses)")
            #expect(statuses.filter { $0.1 == .conflict }.map(\.0) == ["u7@acme.test"], "\(statuses)")
            #expect(try await SCIMUserModel.query(on: t.app.db).count() == 15)
            #expect(try await MembershipModel.query(on: t.app.db).filter(\.$status == MembershipStatus.pending.rawValue).count() == 15)
        }
    }

    @Test func onlyAnOrganizationKeyWithSCIMGetsInAndEveryErrorIsASCIMError() async throws {
        try await TestApp.with(.sqlite) { t in
            let org = try await scimOrg(t)
            let plain = try await scimOrg(t, slug: "other", permissions: ["members.read"])
            func isSCIMError(_ response: TestResponse, _ status: HTTPStatus, _ scimType: String? = nil) -> Bool {
                response.status == status && (response.json["schemas"] as? [String]) == [SCIM.errorSchema]
                    && response.string("status") == String(status.code) && response.string("scimType") == scimType
            }
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Users", token: nil), .unauthorized))
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Users", token: "rk_wrong"), .unauthorized))
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Users?filter=name%20co%20%22x%22", token: nil), .unauthorized), "who asks, before what")
            #expect(isSCIMError(try await scim(t, .GET, "\(plain.scim)/Users", token: plain.key), .forbidden))
            #expect(isSCIMError(try await scim(t, .GET, "\(plain.scim)/Users", token: org.key), .notFound), "another organization's key")
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Users", token: org.owner), .forbidden), "a person's session is not a provider")
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Nothing/here", token: org.key), .notFound))
            #expect(isSCIMError(try await scim(t, .DELETE, "\(org.scim)/Schemas", token: org.key), .methodNotAllowed))
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Users?filter=name%20co%20%22x%22", token: org.key), .badRequest, "invalidFilter"))
            #expect(isSCIMError(try await scim(t, .POST, "\(org.scim)/Users", ["userName": "not an email"], token: org.key), .badRequest, "invalidValue"))
            var headers = HTTPHeaders()
            headers.contentType = SCIM.contentType
            headers.bearerAuthorization = BearerAuthorization(token: org.key)
            #expect(isSCIMError(try await t.send(.POST, "\(org.scim)/Users", body: Data("{".utf8), headers: headers), .badRequest, "invalidSyntax"))
            let user = try await scim(t, .POST, "\(org.scim)/Users", ["userName": "ann@acme.test"], token: org.key)
            let id = try #require(user.string("id"))
            #expect(isSCIMError(try await scim(t, .PATCH, "\(org.scim)/Users/\(id)", ["Operations": [["op": "remove", "path": "userName"]]], token: org.key),
                                .badRequest, "mutability"))
            let projected = try await scim(t, .GET, "\(org.scim)/Users/\(id)?attributes=userName", token: org.key)
            #expect(Set(projected.json.keys) == ["schemas", "id", "userName"])
            let config = try await scim(t, .GET, "\(org.scim)/ServiceProviderConfig", token: org.key)
            #expect((config.json["patch"] as? [String: Any])?["supported"] as? Bool == true)

            // A deleted organization provisions nobody, active or not, and its users are gone with it.
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org.id)", token: org.owner).status == .noContent)
            let users = try await SCIMUserModel.query(on: t.app.db).count()
            #expect(isSCIMError(try await scim(t, .POST, "\(org.scim)/Users", ["userName": "bo@acme.test"], token: org.key), .notFound))
            #expect(isSCIMError(try await scim(t, .POST, "\(org.scim)/Users", ["userName": "cy@acme.test", "active": false], token: org.key), .notFound))
            #expect(isSCIMError(try await scim(t, .PATCH, "\(org.scim)/Users/\(id)", ["Operations": [["op": "replace", "path": "active", "value": false]]],
                                               token: org.key), .notFound))
            #expect(isSCIMError(try await scim(t, .DELETE, "\(org.scim)/Users/\(id)", token: org.key), .notFound))
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Users?filter=userName%20eq%20%22ann@acme.test%22", token: org.key), .notFound))
            #expect(isSCIMError(try await scim(t, .GET, "\(org.scim)/Users", token: org.key), .notFound))
            #expect(try await SCIMUserModel.query(on: t.app.db).count() == users)
        }
    }
}

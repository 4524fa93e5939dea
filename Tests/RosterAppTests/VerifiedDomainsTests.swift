import Foundation
import Testing
import Fluent
import Vapor
import NIOConcurrencyHelpers
@testable import RosterApp
import RosterCore
import RosterStore
import RosterStoreTesting
import RosterTesting

/// DNS as the tests publish it (the real UDP resolver is checked against a DNS server by `domain-tests/`).
final class PublishedRecords: TXTResolver, @unchecked Sendable {
    private let answers = NIOLockedValueBox<[String: TXTAnswer]>([:])
    func publish(_ name: String, _ answer: TXTAnswer) { answers.withLockedValue { $0[name] = answer } }
    func txtRecords(of name: String) async -> TXTAnswer { answers.withLockedValue { $0[name] } ?? .noSuchDomain }
}

/// Issue 16, point 2: verified domains that suggest, open requests or join people, with the DNS record checked.
@Suite struct VerifiedDomainsTests {
    func dns(_ t: TestApp) -> PublishedRecords {
        let records = PublishedRecords()
        t.app.roster.txtResolver = records
        return records
    }

    func record(_ domain: TestResponse) -> String {
        ((domain.json["verification"] as? [String: Any])?["value"] as? String) ?? ""
    }

    @Test(arguments: TestBackend.available)
    func aDomainIsVerifiedByItsRecordOnceAndLostWhenTheRecordGoes(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let dns = dns(t)
            let owner = try await t.verifiedPerson("owner@acme.test")
            let org = try await t.createOrg(owner, slug: "acme")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "Gmail.com"], token: owner).code == "public_email_domain")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "mail.yahoo.co.uk"], token: owner).code == "public_email_domain")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "not a domain"], token: owner).code == "validation_failed")
            let member = try await t.addMember(owner: owner, org: org, email: "member@acme.test")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "acme.test"], token: member.token).status == .forbidden)

            let added = try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "ACME.test"], token: owner)
            #expect(added.status == .created && added.string("domain") == "acme.test" && added.string("status") == "pending", "\(added.text)")
            let id = try #require(added.string("id"))
            #expect(record(added).hasPrefix("roster-verification="))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "acme.test"], token: owner).status == .conflict)

            // No record yet, then another organization's record, then DNS down: not verified, each said plainly.
            let missing = try await t.send(.POST, "/v1/orgs/\(org)/domains/\(id)/verify", token: owner)
            #expect(missing.status == .unprocessableEntity && missing.code == "domain_not_verified" && missing.text.contains(record(added)))
            dns.publish("acme.test", .records(["v=spf1 -all", "roster-verification=someone-elses"]))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains/\(id)/verify", token: owner).text.contains("not this organization's"))
            dns.publish("acme.test", .unavailable("timeout"))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains/\(id)/verify", token: owner).text.contains("DNS did not answer"))

            dns.publish("acme.test", .records(["v=spf1 -all", record(added)]))
            let verified = try await t.send(.POST, "/v1/orgs/\(org)/domains/\(id)/verify", token: owner)
            #expect(verified.status == .ok && verified.string("status") == "verified", "\(verified.text)")

            // One organization at most holds a domain verified.
            let rival = try await t.verifiedPerson("rival@other.test")
            let rivalOrg = try await t.createOrg(rival, name: "Rival", slug: "rival")
            let claimed = try await t.send(.POST, "/v1/orgs/\(rivalOrg)/domains", json: ["domain": "acme.test"], token: rival)
            #expect(claimed.status == .created)
            dns.publish("acme.test", .records([record(added), record(claimed)]))
            let taken = try await t.send(.POST, "/v1/orgs/\(rivalOrg)/domains/\(try #require(claimed.string("id")))/verify", token: rival)
            #expect(taken.status == .conflict && taken.code == "domain_taken", "\(taken.text)")

            // The daily re-check: DNS not answering changes nothing; the record gone loses the verification.
            let recheck = DomainRecheck(db: t.app.db, resolver: dns)
            dns.publish("acme.test", .unavailable("timeout"))
            #expect(try await recheck.run(checkedBefore: Date().addingTimeInterval(1)) == 0)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/domains/\(id)", token: owner).string("status") == "verified")
            dns.publish("acme.test", .records([record(claimed)]))
            #expect(try await recheck.run(checkedBefore: Date().addingTimeInterval(-3600)) == 0, "checked less than an hour ago: not due")
            #expect(try await recheck.run(checkedBefore: Date().addingTimeInterval(1)) == 1)
            let lost = try await t.send(.GET, "/v1/orgs/\(org)/domains/\(id)", token: owner)
            #expect(lost.string("status") == "pending" && lost.string("check_result")?.contains("not this organization's") == true)
            // Now the rival may verify it.
            #expect(try await t.send(.POST, "/v1/orgs/\(rivalOrg)/domains/\(try #require(claimed.string("id")))/verify", token: rival).status == .ok)

            let events = try await t.send(.GET, "/v1/orgs/\(org)/events?types=domain.*", token: owner).json["items"] as? [[String: Any]]
            #expect(events?.compactMap { $0["type"] as? String } == ["domain.added", "domain.verified", "domain.lost"])
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/domains/\(id)", token: owner).status == .noContent)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/domains/\(id)", token: owner).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func anInternationalizedDomainHoldsAddressesInEitherSpelling(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let dns = dns(t)
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "buecher")
            // Typed in its Unicode form, kept (and looked up) in its ASCII form.
            let added = try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "Bücher.test"], token: owner)
            #expect(added.string("domain") == "xn--bcher-kva.test", "\(added.text)")
            let id = try #require(added.string("id"))
            dns.publish("xn--bcher-kva.test", .records([record(added)]))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains/\(id)/verify", token: owner).status == .ok)
            let ana = try await t.verifiedPerson("ana@bücher.test")
            _ = try await t.verifiedPerson("ben@xn--bcher-kva.test")
            let suggested = try await t.send(.GET, "/v1/me/domain-suggestions", token: ana).json["items"] as? [Any]
            #expect(suggested?.count == 1, "an address in the Unicode form is in the domain")
            // Switched to auto, the existing accounts of either spelling join.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto", "role": "member"], token: owner).status == .ok)
            let members = try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: org)!).filter(\.$source == "domain").all()
            #expect(Set(members.map(\.email)) == ["ana@bücher.test", "ben@xn--bcher-kva.test"])
        }
    }

    @Test(arguments: TestBackend.available)
    func suggestRequestAndAutoDoWhatTheySay(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let dns = dns(t)
            let owner = try await t.verifiedPerson("owner@acme.test")
            let org = try await t.createOrg(owner, slug: "acme")   // join policy: closed
            let added = try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "acme.test"], token: owner)
            let id = try #require(added.string("id"))
            dns.publish("acme.test", .records([record(added)]))
            let ada = try await t.verifiedPerson("ada@acme.test")
            let outsider = try await t.verifiedPerson("eve@elsewhere.test")
            let unverifiedID = try await t.signUp("unverified@acme.test")
            _ = unverifiedID

            // Before verification nothing is suggested.
            #expect((try await t.send(.GET, "/v1/me/domain-suggestions", token: ada).json["items"] as? [Any])?.isEmpty == true)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains/\(id)/verify", token: owner).status == .ok)

            // suggest: shown (without a request button while the organization takes no requests); asking is still 404.
            let suggested = try #require((try await t.send(.GET, "/v1/me/domain-suggestions", token: ada).json["items"] as? [[String: Any]])?.first)
            #expect(suggested["can_request"] as? Bool == false && (suggested["organization"] as? [String: Any])?["slug"] as? String == "acme")
            #expect((try await t.send(.GET, "/v1/me/domain-suggestions", token: outsider).json["items"] as? [Any])?.isEmpty == true)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: ada).status == .notFound)

            // request: accounts of the domain may ask although the organization is closed; others still may not.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "request"], token: owner).string("policy") == "request")
            #expect((try await t.send(.GET, "/v1/me/domain-suggestions", token: ada).json["items"] as? [[String: Any]])?.first?["can_request"] as? Bool == true)
            let asked = try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: ada)
            #expect(asked.status == .created && asked.string("status") == "pending", "\(asked.text)")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: outsider).status == .notFound)

            // auto: existing verified accounts of the domain join at once with the chosen role — not the one with a
            // pending request, not an unverified account, not someone who left; never as owner.
            let leaver = try await t.addMember(owner: owner, org: org, email: "leaver@acme.test")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: leaver.token).status == .noContent)
            let bob = try await t.verifiedPerson("bob@acme.test")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto", "role": "owner"], token: owner).code == "validation_failed")
            let auto = try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto", "role": "admin"], token: owner)
            #expect(auto.status == .ok && auto.string("role") == "admin", "\(auto.text)")
            let members = try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: org)!).all()
            let byEmail = Dictionary(grouping: members, by: \.email)
            #expect(byEmail["bob@acme.test"]?.map(\.status) == ["active"] && byEmail["bob@acme.test"]?.first?.source == "domain")
            #expect(byEmail["bob@acme.test"]?.first?.roleKey == "admin")
            #expect(byEmail["ada@acme.test"]?.map(\.status) == ["pending"], "her request stays for a reviewer")
            #expect(byEmail["leaver@acme.test"]?.map(\.status) == ["left"])
            #expect(byEmail["unverified@acme.test"] == nil && byEmail["eve@elsewhere.test"] == nil)
            _ = bob

            // A new account joins when it verifies its email; saving the policy again adds no one twice.
            try await t.signUp("carol@acme.test")
            #expect(try await MembershipModel.query(on: t.app.db).filter(\.$email == "carol@acme.test").count() == 0)
            let token = try await t.verificationToken(for: "carol@acme.test")
            #expect(try await t.send(.POST, "/v1/accounts/verify", json: ["token": token]).status == .ok)
            let carol = try #require(try await MembershipModel.query(on: t.app.db).filter(\.$email == "carol@acme.test").first())
            #expect(carol.status == "active" && carol.source == "domain" && carol.roleKey == "admin")
            _ = try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto", "role": "admin"], token: owner)
            #expect(try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: org)!).filter(\.$status == "active").count() == 3)
            let joined = try await t.send(.GET, "/v1/orgs/\(org)/events?types=membership.joined", token: owner).json["items"] as? [[String: Any]]
            #expect(joined?.count == 2)

            // Saving only the policy keeps the role, also through another policy; a role given is checked whatever the
            // policy; whoever manages domains joins people in roles below their own only.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto"], token: owner).string("role") == "admin")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "suggest"], token: owner).status == .ok)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto"], token: owner).string("role") == "admin")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "suggest", "role": "nosuch"], token: owner).status == .unprocessableEntity)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "suggest", "role": "owner"], token: owner).code == "validation_failed")
            #expect(try await t.send(.PUT, "/v1/orgs/\(org)/roles/org/it", json: ["name": "IT", "rank": 150, "permissions": ["scope.read", "domains.manage"]],
                                     token: owner).status == .created)
            let it = try await t.addMember(owner: owner, org: org, email: "it@elsewhere.test", role: "it").token
            let escalated = try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto", "role": "admin"], token: it)
            #expect(escalated.status == .forbidden && escalated.code == "role_escalation", "\(escalated.text)")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto", "role": "member"], token: it).status == .ok)
        }
    }

    /// A domain turned `auto` joins its existing accounts in batches; what a request leaves undone the worker's sweep
    /// goes on with, from where it stopped (a restart loses nothing and joins no one twice).
    @Test(arguments: TestBackend.available)
    func theWorkerGoesOnJoiningWhereTheRequestStopped(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let dns = dns(t)
            let owner = try await t.verifiedPerson("owner@acme.test")
            let org = try await t.createOrg(owner, slug: "acme")
            let added = try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "acme.test"], token: owner)
            let id = try #require(added.string("id").flatMap(UUID.init(uuidString:)))
            dns.publish("acme.test", .records([record(added)]))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/domains/\(id)/verify", token: owner).status == .ok)
            for name in ["a", "b", "c", "d"] { _ = try await t.verifiedPerson("\(name)@acme.test") }
            let accounts = try await DomainStore(t.app.db).verifiedAccounts(inDomain: "acme.test", after: nil, limit: 10)
            #expect(accounts.count == 5)

            // As a request cut off after its first batch leaves it: auto, the first two accounts (in id order) done.
            let domain = try #require(try await OrganizationDomainModel.find(id, on: t.app.db))
            domain.policy = DomainPolicy.auto.rawValue
            domain.roleKey = "member"
            domain.backfillAfter = try accounts[1].requireID()
            try await domain.save(on: t.app.db)
            var browser = HTTPHeaders()
            browser.replaceOrAdd(name: .cookie, value: "roster_session=\(owner); roster_csrf=x")
            #expect(try await t.send(.GET, "/orgs/acme/domains", headers: browser).text.contains("are joining in the background"))

            // Batches of two, one batch a sweep: the cursor moves batch by batch, and the last (short) batch ends it.
            var joins = DomainJoins(db: t.app.db, limits: t.app.roster.limits)
            joins.batchSize = 2
            func joined() async throws -> Set<String> {
                Set(try await MembershipModel.query(on: t.app.db).filter(\.$scopeID == UUID(uuidString: org)!).filter(\.$source == "domain").all().map(\.email))
            }
            try await joins.resumeBackfills(batches: 1)
            #expect(try await joined() == Set(accounts[2...3].map(\.email)).subtracting(["owner@acme.test"]))
            #expect(try await OrganizationDomainModel.find(id, on: t.app.db)?.backfillAfter == accounts[3].id)
            // A run of an earlier start cannot move the cursor of a later one (the policy saved again meanwhile).
            #expect(try await DomainStore(t.app.db).advanceBackfill(of: id, from: try accounts[1].requireID(), to: nil) == false)
            try await joins.resumeBackfills(batches: 1)
            #expect(try await joined() == Set(accounts[2...].map(\.email)).subtracting(["owner@acme.test"]))
            #expect(try await OrganizationDomainModel.find(id, on: t.app.db)?.backfillAfter == nil)
            #expect(try await DomainStore(t.app.db).pendingBackfills(limit: 10).isEmpty)
            #expect(!(try await t.send(.GET, "/orgs/acme/domains", headers: browser)).text.contains("are joining in the background"))
        }
    }

    /// The form token in a page, as a browser would send it back.
    func formToken(_ page: TestResponse) throws -> String {
        let marker = "name=\"_csrf\" value=\""
        let start = try #require(page.text.range(of: marker)).upperBound
        return String(page.text[start...].prefix { $0 != "\"" })
    }

    @Test func theDomainsPageShowsTheRecordAndTheHomePageTheSuggestion() async throws {
        try await TestApp.with(.sqlite) { t in
            let dns = dns(t)
            let owner = try await t.verifiedPerson("owner@acme.test")
            let org = try await t.createOrg(owner, slug: "acme")
            let added = try await t.send(.POST, "/v1/orgs/\(org)/domains", json: ["domain": "acme.test", "policy": "request"], token: owner)
            var headers = HTTPHeaders()
            headers.replaceOrAdd(name: .cookie, value: "roster_session=\(owner); roster_csrf=x")
            let page = try await t.send(.GET, "/orgs/acme/domains", headers: headers)
            #expect(page.status == .ok && page.text.contains(record(added)) && page.text.contains("not verified"))
            dns.publish("acme.test", .records([record(added)]))
            headers.contentType = .urlEncodedForm
            let verify = try await t.send(.POST, "/orgs/acme/domains/\(try #require(added.string("id")))/verify",
                                          body: Data("_csrf=\(try formToken(page))".utf8), headers: headers)
            #expect(verify.status == .seeOther)
            let ada = try await t.verifiedPerson("ada@acme.test")
            headers.replaceOrAdd(name: .cookie, value: "roster_session=\(ada); roster_csrf=x")
            headers.remove(name: .contentType)
            let home = try await t.send(.GET, "/", headers: headers)
            headers.contentType = .urlEncodedForm
            #expect(home.text.contains("Organizations for your address") && home.text.contains("/orgs/acme/request-to-join"))
            let request = try await t.send(.POST, "/orgs/acme/request-to-join", body: Data("_csrf=\(try formToken(home))".utf8), headers: headers)
            #expect(request.status == .seeOther)
            #expect(try await MembershipModel.query(on: t.app.db).filter(\.$email == "ada@acme.test").first()?.status == "pending")

            // The policy form always sends a role; it counts under auto only (another policy keeps the auto role).
            let id = try #require(added.string("id"))
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/domains/\(id)", json: ["policy": "auto", "role": "admin"], token: owner).status == .ok)
            headers.replaceOrAdd(name: .cookie, value: "roster_session=\(owner); roster_csrf=x")
            for (policy, role) in [("suggest", "member"), ("auto", "member")] {
                let saved = try await t.send(.POST, "/orgs/acme/domains/\(id)/policy",
                                             body: Data("_csrf=\(try formToken(page))&policy=\(policy)&role=\(role)".utf8), headers: headers)
                #expect(saved.status == .seeOther)
                let domain = try await t.send(.GET, "/v1/orgs/\(org)/domains/\(id)", token: owner)
                #expect(domain.string("policy") == policy && domain.string("role") == (policy == "auto" ? "member" : "admin"), "\(domain.text)")
            }
        }
    }
}

import Foundation
import Testing
import Fluent
import RosterStore
import Vapor
import RosterTesting

/// The invitation rows of DESIGN §2's transition table, refusals included.
@Suite struct InvitationLifecycleTests {
    @Test(arguments: TestBackend.available)
    func theInviteeAcceptsByIDAndReacceptingIsIdempotent(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let invited = try await t.invite(owner, org: org, email: "Bea@Example.com", role: "admin")
            #expect(invited.status == .created)
            #expect(invited.string("status") == "pending")
            #expect(invited.string("source") == "invitation")
            #expect(invited.string("email") == "bea@example.com")
            #expect(invited.json["account_id"] is NSNull)
            let id = try #require(invited.string("id"))
            let email = try #require(try await t.emails(to: "bea@example.com", kind: "invitation").first)
            #expect(email.subject.contains("has invited you to join Acme"))
            #expect(!email.text.contains("you were added"))
            #expect(email.text.contains("http://roster.test/i/"))

            // A pending row grants nothing.
            let bea = try await t.verifiedPerson("bea@example.com")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/members", token: bea).status == .notFound)
            let mine = try await t.send(.GET, "/v1/me/invitations", token: bea)
            #expect(mine.text.contains(id))

            let accepted = try await t.send(.POST, "/v1/invitations/\(id)/accept", token: bea)
            #expect(accepted.status == .ok)
            #expect(accepted.string("status") == "active")
            #expect(accepted.json["account_id"] as? String != nil)
            let again = try await t.send(.POST, "/v1/invitations/\(id)/accept", token: bea)
            #expect(again.status == .ok)
            #expect(again.string("status") == "active")
            // Declining what was accepted is refused with the opaque 404, and nothing changes.
            #expect(try await t.send(.POST, "/v1/invitations/\(id)/decline", token: bea).status == .notFound)
            #expect(try await t.member(owner, org: org, id: id).string("status") == "active")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/members", token: bea).status == .ok)
        }
    }

    @Test(arguments: TestBackend.available)
    func onlyTheInviteeCanAnswerAndEveryRefusalIsTheSame404(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let id = try #require(try await t.invite(owner, org: org, email: "bea@example.com").string("id"))
            let mallory = try await t.verifiedPerson("mallory@example.com")
            try await t.makePlatformAdmin("owner@example.com")
            let key = try await t.apiKey()
            let unverified = try await { () async throws -> String in
                try await t.signUp("bea@example.com")
                return try await t.signIn("bea@example.com")
            }()

            let refusals = [
                try await t.send(.POST, "/v1/invitations/\(id)/accept", token: mallory),          // not yours
                try await t.send(.POST, "/v1/invitations/\(id)/accept", token: owner),            // platform admin
                try await t.send(.POST, "/v1/invitations/\(id)/accept", token: key),              // API key
                try await t.send(.POST, "/v1/invitations/\(id)/accept", token: unverified),       // email not verified
                try await t.send(.POST, "/v1/invitations/\(UUID())/accept", token: mallory),      // unknown id
                try await t.send(.POST, "/v1/invitations/not-a-uuid/accept", token: mallory),     // malformed id
                try await t.send(.POST, "/v1/invitations/\(id)/decline", token: mallory),
            ]
            for refusal in refusals {
                #expect(refusal.status == .notFound)
                #expect(refusal.stable() == refusals[0].stable())
            }
            #expect(try await t.member(owner, org: org, id: id).string("status") == "pending")
        }
    }

    @Test(arguments: TestBackend.available)
    func declineRevokeAndTheirRefusals(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let bea = try await t.verifiedPerson("bea@example.com")
            let first = try #require(try await t.invite(owner, org: org, email: "bea@example.com").string("id"))
            let declined = try await t.send(.POST, "/v1/invitations/\(first)/decline", token: bea)
            #expect(declined.string("status") == "declined")
            #expect(try await t.send(.POST, "/v1/invitations/\(first)/accept", token: bea).status == .notFound)
            // The declined invitation is gone from the invitee's list and stays readable as history.
            #expect(!(try await t.send(.GET, "/v1/me/invitations", token: bea)).text.contains(first))
            #expect(try await t.member(owner, org: org, id: first).string("status") == "declined")

            let second = try #require(try await t.invite(owner, org: org, email: "bea@example.com").string("id"))
            #expect(second != first)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(second)", token: owner).status == .noContent)
            #expect(try await t.member(owner, org: org, id: second).string("status") == "revoked")
            #expect(try await t.send(.POST, "/v1/invitations/\(second)/accept", token: bea).status == .notFound)
            let revokedAgain = try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(second)", token: owner)
            #expect(revokedAgain.status == .conflict)
        }
    }

    @Test(arguments: TestBackend.available)
    func acceptingByTokenVerifiesTheEmailAndRefusesAnotherAccount(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, name: "Token Club")
            try await t.invite(owner, org: org, email: "cy@example.com", role: "admin")
            let token = try await t.invitationToken(for: "cy@example.com")

            let preview = try await t.send(.GET, "/v1/invitation-tokens/\(token)")
            #expect(preview.status == .ok)
            #expect((preview.json["organization"] as? [String: Any])?["name"] as? String == "Token Club")
            #expect((preview.json["role"] as? [String: Any])?["key"] as? String == "admin")
            #expect(preview.string("inviter_name") == "Test Person")
            #expect(preview.string("status") == "pending")
            #expect(try await t.send(.GET, "/v1/invitation-tokens/nonsense").status == .notFound)
            // A link scanner's GET changed nothing; accepting needs a signed-in person.
            #expect(try await t.send(.POST, "/v1/invitation-tokens/\(token)/accept").status == .unauthorized)

            let other = try await t.verifiedPerson("other@example.com")
            let wrong = try await t.send(.POST, "/v1/invitation-tokens/\(token)/accept", token: other)
            let unknown = try await t.send(.POST, "/v1/invitation-tokens/nonsense/accept", token: other)
            #expect(wrong.status == .notFound)
            #expect(wrong.stable() == unknown.stable())

            try await t.signUp("cy@example.com")
            let cy = try await t.signIn("cy@example.com")
            let accepted = try await t.send(.POST, "/v1/invitation-tokens/\(token)/accept", token: cy)
            #expect(accepted.status == .ok)
            #expect(accepted.string("status") == "active")
            #expect(try await t.send(.GET, "/v1/me", token: cy).json["email_verified"] as? Bool == true)
            // An answered invitation's link is no longer an invitation.
            #expect(try await t.send(.GET, "/v1/invitation-tokens/\(token)").status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func resendRotatesTheTokenAndReopensExpiredInvitations(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, settings: ["invitation_ttl_days": 0])
            let id = try #require(try await t.invite(owner, org: org, email: "dee@example.com").string("id"))
            let oldToken = try await t.invitationToken(for: "dee@example.com")
            let dee = try await t.verifiedPerson("dee@example.com")
            // TTL 0: expired at once.
            #expect(try await t.send(.POST, "/v1/invitations/\(id)/accept", token: dee).status == .notFound)
            #expect(try await t.member(owner, org: org, id: id).string("status") == "expired")
            let expiredList = try await t.send(.GET, "/v1/orgs/\(org)/members?status=expired", token: owner)
            #expect(expiredList.text.contains(id))

            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["settings": ["invitation_ttl_days": 7]], token: owner).status == .ok)
            let resent = try await t.send(.POST, "/v1/orgs/\(org)/members/\(id)/resend", token: owner)
            #expect(resent.status == .ok)
            #expect(resent.string("status") == "pending")
            let newToken = try await t.invitationToken(for: "dee@example.com")
            #expect(newToken != oldToken)
            #expect(try await t.send(.POST, "/v1/invitation-tokens/\(oldToken)/accept", token: dee).status == .notFound)
            #expect(try await t.send(.POST, "/v1/invitation-tokens/\(newToken)/accept", token: dee).string("status") == "active")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/members/\(id)/resend", token: owner).status == .conflict)
        }
    }

    @Test(arguments: TestBackend.available)
    func invitingALiveEmailIsRefusedWithoutASecondRow(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await t.invite(owner, org: org, email: "eve@example.com")
            let twice = try await t.invite(owner, org: org, email: " EVE@example.com")
            #expect(twice.status == .conflict)
            #expect(twice.code == "already_invited")
            let ownerAgain = try await t.invite(owner, org: org, email: "owner@example.com")
            #expect(ownerAgain.code == "already_member")
            let list = try await t.send(.GET, "/v1/orgs/\(org)/members", token: owner)
            #expect((list.json["items"] as? [Any])?.count == 2)
            #expect(try await t.emails(to: "eve@example.com", kind: "invitation").count == 1)
        }
    }

    @Test(arguments: TestBackend.available)
    func theInviteAnswerIsTheSameWhetherOrNotTheEmailHasAnAccount(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await t.verifiedPerson("known@example.com")
            let known = try await t.invite(owner, org: org, email: "known@example.com")
            let unknown = try await t.invite(owner, org: org, email: "unknown@example.com")
            let varying: Set<String> = ["id", "email", "created_at", "updated_at", "expires_at", "delivery"]
            #expect(known.status == unknown.status)
            let deliveries = [known, unknown].map { ($0.json["delivery"] as? [String: Any]).map { Set($0.keys) } }
            #expect(deliveries[0] == deliveries[1] && deliveries[0] == ["status", "scheduled_at"])
            #expect(known.stable(dropping: varying) == unknown.stable(dropping: varying))
            #expect(Set(known.json.keys) == Set(unknown.json.keys))
        }
    }

    @Test(arguments: TestBackend.available)
    func invitationsOverTheOrganizationsBudgetAreCreatedAndTheirEmailsWait(backend: TestBackend) async throws {
        try await TestApp.with(backend, limits: .init(invitationsPerHour: 2)) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            func scheduled(_ r: TestResponse) throws -> Date {
                #expect((r.json["delivery"] as? [String: Any])?["status"] as? String == "queued")
                return try #require(r.deliveryScheduledAt)
            }
            let start = Date()
            let a = try await t.invite(owner, org: org, email: "a@example.com")
            let b = try await t.invite(owner, org: org, email: "b@example.com")
            let c = try await t.invite(owner, org: org, email: "c@example.com")
            #expect([a.status, b.status, c.status] == [.created, .created, .created])
            #expect(try scheduled(a) < start + 60 && scheduled(b) < start + 60)
            #expect(try scheduled(c) >= scheduled(a) + 3600, "the third waits an hour after the first")
            func expires(_ r: TestResponse) throws -> Date { try #require(r.string("expires_at").flatMap { try? Date($0, strategy: .iso8601) }) }
            #expect(try expires(c).timeIntervalSince(scheduled(c)) == expires(a).timeIntervalSince(scheduled(a)),
                    "an invitation's time to answer counts from when its email goes")
            // A resend takes a slot too.
            let resent = try await t.send(.POST, "/v1/orgs/\(org)/members/\(try #require(b.string("id")))/resend", token: owner)
            #expect(try scheduled(resent) >= scheduled(b) + 3600)
            // The budget is the organization's: another one sends at once.
            let other = try await t.createOrg(owner, name: "Other")
            #expect(try scheduled(try await t.invite(owner, org: other, email: "c@example.com")) < start + 60)
        }
    }

    /// An invitation answered in the app before its held-back email went out: the email is superseded (its link is
    /// dead) and its slot goes back to the organization.
    @Test(arguments: TestBackend.available)
    func answeringBeforeTheEmailGoesGivesItsSlotBack(backend: TestBackend) async throws {
        try await TestApp.with(backend, limits: .init(invitationsPerHour: 1)) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let bea = try await t.verifiedPerson("bea@example.com")
            let org = try await t.createOrg(owner)
            let first = try await t.invite(owner, org: org, email: "a@example.com")
            let held = try await t.invite(owner, org: org, email: "bea@example.com")
            #expect(try #require(held.deliveryScheduledAt) >= #require(first.deliveryScheduledAt) + 3600)
            let id = try #require(held.string("id"))
            #expect(try await t.send(.POST, "/v1/invitations/\(id)/accept", token: bea).status == .ok)
            let emails = try await OutboxMessageModel.query(on: t.app.db).filter(\.$membershipID == UUID(uuidString: id)).all()
            #expect(emails.map(\.status) == ["superseded"])
            let next = try await t.invite(owner, org: org, email: "c@example.com")
            #expect(next.deliveryScheduledAt == held.deliveryScheduledAt, "the slot went back")
        }
    }
}

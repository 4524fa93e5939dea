import Foundation
import Testing
@testable import RosterCore

/// `Lifecycle.decide` without a database: facts in, plan or refusal out.
@Suite struct LifecycleEngineTests {
    static let orgID = UUID()
    static let scope = ScopeRef(orgID: orgID)
    static let ownerID = UUID(), inviteeID = UUID(), rowID = UUID()
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let fresh = FreshValues(id: UUID(), token: "token", tokenHash: "hash")
    static let ladder = RoleLadder(.org, roles: DefaultRoles.org)

    static func facts(actor: UUID = ownerID, role: String? = "owner", email: String = "owner@example.com") -> ScopeFacts {
        ScopeFacts(scope: scope, actor: .account(actor), person: ActingPerson(id: actor, email: email, name: "P", emailVerified: true),
                   actorName: "P", authority: .onOrganization(role: role.flatMap(ladder.role)), ladder: ladder,
                   settings: ScopeSettings(joinPolicy: .request), orgName: "Acme", orgSlug: "acme")
    }

    static func row(_ status: MembershipStatus, _ source: MembershipSource, role: String = "member") -> MembershipFacts {
        MembershipFacts(id: rowID, scope: scope, status: status, source: source, roleKey: role,
                        accountID: source == .invitation && status != .active ? nil : inviteeID, email: "invitee@example.com",
                        expiresAt: now.addingTimeInterval(3600))
    }

    /// Who runs each command: an owner (admin side), the invitee, or the requester (both the row's person).
    enum Side { case owner, invitee }

    /// The commands of the table, with the side that runs them.
    static let commands: [(String, MembershipCommand, Side)] = [
        ("accept", .accept(.id), .invitee), ("decline", .decline(.id), .invitee), ("revoke/remove", .remove(rowID), .owner),
        ("resend", .resend(rowID, newEmail: nil), .owner), ("expire", .expire(rowID), .owner),
        ("approve", .approve(rowID, role: nil), .owner), ("reject", .reject(rowID), .owner), ("withdraw", .withdraw(rowID), .invitee),
        ("change role", .update(rowID, MemberUpdate(role: "admin")), .owner), ("leave", .leave, .invitee),
    ]

    /// The table of DESIGN §2: for each command, the (status, source) rows it moves and where to; every other row is
    /// refused with the command's code.
    static let allowed: [String: [String: MembershipStatus]] = [
        "accept": ["pending/invitation": .active],
        "decline": ["pending/invitation": .declined],
        "revoke/remove": ["pending/invitation": .revoked, "active/invitation": .removed, "active/join_request": .removed,
                          "active/direct": .removed, "active/creator": .removed, "active/link": .removed,
                          "active/domain": .removed, "active/scim": .removed],
        "resend": ["pending/invitation": .pending, "expired/invitation": .pending],
        "expire": [:],  // only with the expiry passed: see `expiryNeedsTheTimeToBeUp`
        "approve": ["pending/join_request": .active],
        "reject": ["pending/join_request": .rejected],
        "withdraw": ["pending/join_request": .withdrawn],
        "change role": ["pending/invitation": .pending, "active/invitation": .active, "active/join_request": .active,
                        "active/direct": .active, "active/creator": .active, "active/link": .active, "active/domain": .active,
                        "active/scim": .active],
        "leave": ["active/invitation": .left, "active/join_request": .left, "active/direct": .left, "active/creator": .left,
                  "active/link": .left, "active/domain": .left, "active/scim": .left],
    ]

    /// The refusal of a row the command does not apply to.
    static func refusal(_ command: String, _ row: MembershipFacts) -> ProblemCode {
        switch command {
        case "accept", "decline", "withdraw", "expire", "leave": .notFound   // invitee side: opaque (invariant 7)
        case "approve", "reject": row.source == .joinRequest ? .conflict : .notFound
        default: .conflict
        }
    }

    @Test func everyStatusSourceAndCommand() throws {
        var checked = 0
        for status in MembershipStatus.allCases {
            for source in MembershipSource.allCases {
                let row = Self.row(status, source)
                for (name, command, side) in Self.commands {
                    var facts = side == .owner ? Self.facts() : Self.facts(actor: Self.inviteeID, role: nil, email: "invitee@example.com")
                    facts.target = row
                    facts.ownerCounts = OwnerCounts(members: 3, owners: 1)
                    let key = "\(status.rawValue)/\(source.rawValue)"
                    let result = Result { () throws(RosterError) in try Lifecycle.decide(command, facts: facts, now: Self.now, fresh: Self.fresh) }
                    if name == "accept" && key == "active/invitation" {
                        // The invitee accepting what they already accepted: the same membership, nothing written.
                        let plan = try result.get()
                        #expect(plan.isEmpty && plan.result == Self.rowID)
                    } else if let to = Self.allowed[name]?[key] {
                        let plan = try result.get()
                        #expect(plan.updates.map(\.to) == [to], "\(name) on \(key)")
                        #expect(plan.updates.first?.from == status && plan.updates.first?.source == source, "\(name) on \(key): guarded on what was read")
                        #expect(plan.audit.count == 1, "\(name) on \(key): one audit event")
                    } else {
                        #expect(throws: RosterError.self, "\(name) on \(key)") { try result.get() }
                        if case .failure(let error) = result { #expect(error.code == Self.refusal(name, row), "\(name) on \(key): \(error)") }
                    }
                    checked += 1
                }
            }
        }
        #expect(checked == MembershipStatus.allCases.count * MembershipSource.allCases.count * Self.commands.count)
    }

    @Test func expiryNeedsTheTimeToBeUp() throws {
        var facts = Self.facts()
        facts.target = Self.row(.pending, .invitation)
        #expect(throws: RosterError.notFound) { try Lifecycle.decide(.expire(Self.rowID), facts: facts, now: Self.now, fresh: Self.fresh) }
        let plan = try Lifecycle.decide(.expire(Self.rowID), facts: facts, now: Self.now.addingTimeInterval(3600), fresh: Self.fresh)
        #expect(plan.updates.map(\.to) == [.expired])
        #expect(plan.audit.map(\.actor) == [.system])
    }

    @Test func aJoinRequestEndsAsWithdrawnNeverRevoked() {
        #expect(Lifecycle.ending(of: Self.row(.pending, .joinRequest))?.status == .withdrawn)
        #expect(Lifecycle.ending(of: Self.row(.pending, .invitation))?.status == .revoked)
        #expect(Lifecycle.ending(of: Self.row(.active, .direct))?.status == .removed)
        #expect(Lifecycle.ending(of: Self.row(.declined, .invitation)) == nil)
    }

    @Test func removingAnOrgMemberEndsTheirSpaceRows() throws {
        var facts = Self.facts()
        facts.target = Self.row(.active, .invitation)
        facts.ownerCounts = OwnerCounts(members: 3, owners: 1)
        let space = ScopeRef(orgID: Self.orgID, spaceID: UUID())
        facts.endingRows = [
            MembershipFacts(id: UUID(), scope: space, status: .active, source: .direct, roleKey: "viewer", accountID: Self.inviteeID, email: "invitee@example.com"),
            MembershipFacts(id: UUID(), scope: space, status: .pending, source: .joinRequest, roleKey: "viewer", accountID: Self.inviteeID, email: "invitee@example.com"),
            MembershipFacts(id: UUID(), scope: space, status: .pending, source: .invitation, roleKey: "viewer", accountID: nil, email: "invitee@example.com"),
        ]
        let plan = try Lifecycle.decide(.remove(Self.rowID), facts: facts, now: Self.now, fresh: Self.fresh)
        #expect(plan.updates.map(\.to) == [.removed, .removed, .withdrawn, .revoked])
        #expect(plan.audit.map(\.action) == ["membership.removed", "membership.removed", "join_request.withdrawn", "invitation.revoked"])
        #expect(plan.supersede == [facts.endingRows[2].id!])
    }

    @Test func invitingSomeoneWhoAskedToJoinNeedsAReviewer() throws {
        var facts = Self.facts()
        facts.existing = Self.row(.pending, .joinRequest)
        let plan = try Lifecycle.decide(.invite(InviteInput(email: "invitee@example.com")), facts: facts, now: Self.now, fresh: Self.fresh)
        #expect(plan.updates.map(\.to) == [.active])
        #expect(plan.audit.map(\.action) == ["membership.activated_by_mutual_intent"])
        // A space manager-like role that may invite but not review.
        facts.authority = Authority(permissions: [.scopeRead, .membersRead, .membersInvite], rank: 150, isOwner: false, roleKey: "inviter")
        #expect(throws: RosterError(.joinRequestPending, "This person asked to join; a reviewer of join requests must approve the request.")) {
            try Lifecycle.decide(.invite(InviteInput(email: "invitee@example.com")), facts: facts, now: Self.now, fresh: Self.fresh)
        }
    }

    @Test func theLastOwnerCannotLeaveDemoteOrBeRemoved() {
        var facts = Self.facts()
        facts.target = Self.row(.active, .creator, role: "owner")
        facts.ownerCounts = OwnerCounts(members: 2, owners: 1)
        for command: MembershipCommand in [.remove(Self.rowID), .update(Self.rowID, MemberUpdate(role: "member"))] {
            #expect(throws: RosterError.self) { try Lifecycle.decide(command, facts: facts, now: Self.now, fresh: Self.fresh) }
        }
        var own = Self.facts(actor: Self.inviteeID, role: "owner", email: "invitee@example.com")
        own.target = facts.target
        own.ownerCounts = facts.ownerCounts
        #expect(throws: RosterError.self) { try Lifecycle.decide(.leave, facts: own, now: Self.now, fresh: Self.fresh) }
    }

    @Test func nobodyRaisesTheirOwnRole() {
        var facts = Self.facts(actor: Self.inviteeID, role: "admin", email: "invitee@example.com")
        facts.target = Self.row(.active, .direct, role: "member")
        #expect(throws: RosterError(.roleEscalation, "Nobody can raise their own role.")) {
            try Lifecycle.decide(.update(Self.rowID, MemberUpdate(role: "admin")), facts: facts, now: Self.now, fresh: Self.fresh)
        }
    }

    @Test func joinRequestsNeedTheRequestPolicyAndAVerifiedEmail() throws {
        var facts = Self.facts(actor: Self.inviteeID, role: nil, email: "invitee@example.com")
        #expect(try Lifecycle.decide(.requestToJoin(message: nil), facts: facts, now: Self.now, fresh: Self.fresh).inserts.map(\.source) == [.joinRequest])
        facts.existing = Self.row(.pending, .invitation)
        #expect(throws: RosterError.self) { try Lifecycle.decide(.requestToJoin(message: nil), facts: facts, now: Self.now, fresh: Self.fresh) }
        facts.existing = nil
        facts.person?.emailVerified = false
        #expect(throws: RosterError(.forbidden, "Verify your email address before asking to join.")) {
            try Lifecycle.decide(.requestToJoin(message: nil), facts: facts, now: Self.now, fresh: Self.fresh)
        }
        facts.settings.joinPolicy = .closed
        #expect(throws: RosterError.notFound) { try Lifecycle.decide(.requestToJoin(message: nil), facts: facts, now: Self.now, fresh: Self.fresh) }
    }

    @Test func anUnverifiedInviterIsRefused() {
        var facts = Self.facts()
        facts.person?.emailVerified = false
        #expect(throws: RosterError(.forbidden, "Verify your email address before inviting anyone.")) {
            try Lifecycle.decide(.invite(InviteInput(email: "x@example.com")), facts: facts, now: Self.now, fresh: Self.fresh)
        }
        facts.target = Self.row(.pending, .invitation)
        #expect(throws: RosterError.self) { try Lifecycle.decide(.resend(Self.rowID, newEmail: nil), facts: facts, now: Self.now, fresh: Self.fresh) }
    }
}

/// The rules of verified domains, decided without DNS or a database.
@Suite struct DomainRulesTests {
    @Test func domainNamesAreCanonicalAndPublicOnesAreKnown() {
        #expect(DomainName.canonical(" @Acme.COM. ") == "acme.com")
        #expect(DomainName.canonical("localhost") == nil && DomainName.canonical("a..b") == nil && DomainName.canonical("10.0.0.1") == nil)
        #expect(DomainName.canonical("-acme.com") == nil && DomainName.canonical("acme_corp.com") == nil)
        #expect(PublicEmailDomains.contains("gmail.com") && PublicEmailDomains.contains("eu.outlook.com"))
        #expect(!PublicEmailDomains.contains("acme.com") && !PublicEmailDomains.contains("notgmail.com"))
    }

    /// An internationalized domain is kept, and an address in it matched, in its ASCII form (RFC 3492's Punycode).
    @Test func internationalizedDomainsAreKeptAndMatchedInTheirASCIIForm() {
        #expect(DomainName.canonical("Bücher.de") == "xn--bcher-kva.de")
        #expect(DomainName.canonical("@münchen.example.") == "xn--mnchen-3ya.example")
        #expect(DomainName.canonical("xn--bcher-kva.de") == "xn--bcher-kva.de")
        #expect(DomainName.of(email: "ana@bücher.de") == "xn--bcher-kva.de")
        #expect(DomainName.of(email: "ana@example.com") == "example.com")
        // RFC 3492's samples: (A) Arabic (Egyptian) and (L) Japanese.
        #expect(Punycode.encode("\u{644}\u{64A}\u{647}\u{645}\u{627}\u{628}\u{62A}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64A}\u{61F}") == "egbpdaj6bu4bxfgehfvwxn")
        #expect(Punycode.encode("3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}") == "3B-ww4c5e180e575a65lsy2b")
        #expect(Punycode.encode("français") == "franais-xxa")
        // And back: an address may be written in either form.
        #expect(Punycode.decode("egbpdaj6bu4bxfgehfvwxn") == "\u{644}\u{64A}\u{647}\u{645}\u{627}\u{628}\u{62A}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64A}\u{61F}")
        #expect(Punycode.decode("3B-ww4c5e180e575a65lsy2b") == "3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}")
        #expect(DomainName.unicode("xn--bcher-kva.de") == "bücher.de" && DomainName.unicode("acme.com") == "acme.com")
        #expect(Punycode.decode("bcher-kv!") == nil && Punycode.decode("zzzzzzzzzzzzzz") == nil)
    }

    @Test func aTXTAnswerIsReadFromTheWireAndJudged() throws {
        let query = DNSMessage.txtQuery(name: "acme.test", id: 0x1234)
        #expect(Array(query.prefix(2)) == [0x12, 0x34] && query.contains(4) && query.suffix(11).prefix(3) == [0, 0, 41])
        // An answer: the question echoed, one TXT record in two strings (joined), one SPF record; names compressed.
        var answer: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        answer += [4] + Array("acme".utf8) + [4] + Array("test".utf8) + [0, 0, 16, 0, 1]
        let first = Array("roster-verification=".utf8), second = Array("abc".utf8)
        answer += [0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, UInt8(2 + first.count + second.count), UInt8(first.count)] + first + [UInt8(second.count)] + second
        let spf = Array("v=spf1 -all".utf8)
        answer += [0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, UInt8(1 + spf.count), UInt8(spf.count)] + spf
        #expect(DNSMessage.txtAnswer(answer, id: 0x1234) == .records(["roster-verification=abc", "v=spf1 -all"]))
        #expect(DNSMessage.txtAnswer(answer, id: 0x9999) == nil, "another query's answer is ignored")
        var nxdomain = Array(answer.prefix(12)); nxdomain[3] = 0x83
        #expect(DNSMessage.txtAnswer(nxdomain, id: 0x1234) == .noSuchDomain)
        #expect(DNSMessage.txtAnswer(Array(answer.prefix(40)), id: 0x1234) == .unavailable("a malformed answer"))

        #expect(DomainVerification.outcome(of: .records(["roster-verification=abc"]), token: "abc") == .verified)
        guard case .missing = DomainVerification.outcome(of: .records(["roster-verification=abd"]), token: "abc") else { Issue.record("a wrong token verifies"); return }
        guard case .missing = DomainVerification.outcome(of: .noSuchDomain, token: "abc") else { Issue.record("NXDOMAIN verifies"); return }
        guard case .undetermined = DomainVerification.outcome(of: .unavailable("timeout"), token: "abc") else { Issue.record("a timeout decides"); return }
    }

    @Test func joiningByDomainNeedsAnAutoDomainAndNoPastDecision() throws {
        var facts = LifecycleEngineTests.facts(actor: LifecycleEngineTests.inviteeID, role: nil, email: "invitee@acme.com")
        #expect(throws: RosterError.notFound) { try Lifecycle.decide(.joinByDomain, facts: facts, now: LifecycleEngineTests.now, fresh: LifecycleEngineTests.fresh) }
        facts.verifiedDomain = VerifiedDomainFacts(id: UUID(), domain: "acme.com", policy: .request, roleKey: nil)
        #expect(throws: RosterError.notFound) { try Lifecycle.decide(.joinByDomain, facts: facts, now: LifecycleEngineTests.now, fresh: LifecycleEngineTests.fresh) }
        facts.verifiedDomain?.policy = .auto
        let plan = try Lifecycle.decide(.joinByDomain, facts: facts, now: LifecycleEngineTests.now, fresh: LifecycleEngineTests.fresh)
        #expect(plan.inserts.map(\.source) == [.domain] && plan.inserts.map(\.status) == [.active])
        facts.endedBefore = true
        #expect(throws: RosterError.self) { try Lifecycle.decide(.joinByDomain, facts: facts, now: LifecycleEngineTests.now, fresh: LifecycleEngineTests.fresh) }
        facts.endedBefore = false
        facts.verifiedDomain?.roleKey = DefaultRoles.ownerKey
        #expect(throws: RosterError.self) { try Lifecycle.decide(.joinByDomain, facts: facts, now: LifecycleEngineTests.now, fresh: LifecycleEngineTests.fresh) }
    }
}

@Suite struct ProvisioningRulesTests {
    /// The facts of an identity provider's key on the organization (the rank below owner), `existing` the person's row.
    static func facts(existing: MembershipFacts?) -> ScopeFacts {
        var facts = LifecycleEngineTests.facts()
        facts.person = nil
        facts.authority = .organizationKey(permissions: Permission.provisioning, limitedToSpaces: false,
                                           ownerRank: LifecycleEngineTests.ladder.role(DefaultRoles.ownerKey)!.rank)
        facts.existing = existing
        return facts
    }

    static func provision(_ facts: ScopeFacts, externalID: String? = "X-1") throws -> MembershipPlan {
        try Lifecycle.decide(.provision(InviteInput(email: "invitee@example.com", externalID: externalID)), facts: facts,
                             now: LifecycleEngineTests.now, fresh: LifecycleEngineTests.fresh)
    }

    @Test func onlyAUserInTheOrganizationJoinsAGroup() {
        #expect(Lifecycle.mayJoinGroup(userActive: nil, organizationRow: .active))
        #expect(Lifecycle.mayJoinGroup(userActive: true, organizationRow: .pending))
        #expect(!Lifecycle.mayJoinGroup(userActive: false, organizationRow: .active), "deactivated")
        #expect(!Lifecycle.mayJoinGroup(userActive: true, organizationRow: .removed), "an administrator's removal stands")
        #expect(!Lifecycle.mayJoinGroup(userActive: true, organizationRow: nil), "never provisioned")
    }

    @Test func aPendingJoinRequestIsApprovedAndAnOwnerIsNotAdopted() throws {
        let request = LifecycleEngineTests.row(.pending, .joinRequest)
        let approved = try Self.provision(Self.facts(existing: request))
        #expect(approved.updates.map(\.to) == [.active] && approved.updates.first?.set.externalID == .some("X-1"))
        #expect(approved.emails.count == 1 && approved.inserts.isEmpty && approved.result == request.id)

        let member = try Self.provision(Self.facts(existing: LifecycleEngineTests.row(.active, .direct)))
        #expect(member.updates.map(\.to) == [.active] && member.inserts.isEmpty, "a member is adopted with the external ID")
        #expect(throws: RosterError.self) { try Self.provision(Self.facts(existing: LifecycleEngineTests.row(.active, .creator, role: DefaultRoles.ownerKey))) }
    }
}

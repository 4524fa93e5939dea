import Foundation
import Testing
@testable import RosterCore

@Suite struct AuthorityTests {
    let org = RoleLadder(.org, roles: DefaultRoles.org)
    let space = RoleLadder(.space, roles: DefaultRoles.space)

    @Test func ownersGrantAnythingAdminsOnlyBelowThemselves() throws {
        let owner = Authority.onOrganization(role: org.role("owner"))
        let admin = Authority.onOrganization(role: org.role("admin"))
        for role in org.roles { #expect(owner.outranks(role)) }
        #expect(admin.outranks(try org.require("member")))
        #expect(!admin.outranks(try org.require("admin")))
        #expect(!admin.outranks(try org.require("owner")))
        #expect(throws: RosterError(.roleEscalation, "You cannot grant 'admin': it is not ranked below your own role.")) {
            try admin.requireMayGrant(try org.require("admin"))
        }
    }

    @Test func strangersSeeNothingMembersAreForbidden() {
        #expect(throws: RosterError.notFound) { try Authority.none.require(.membersRead) }
        let member = Authority.onOrganization(role: org.role("member"))
        #expect(throws: Never.self) { try member.require(.membersRead) }
        #expect(throws: RosterError(.forbidden, "Your role does not hold 'members.invite' here.")) { try member.require(.membersInvite) }
    }

    @Test func orgOwnersAndAdminsHoldSpacesImplicitly() {
        let owner = Authority.onSpace(orgRole: org.role("owner"), spaceRole: nil)
        let admin = Authority.onSpace(orgRole: org.role("admin"), spaceRole: nil)
        let member = Authority.onSpace(orgRole: org.role("member"), spaceRole: nil)
        let viewer = Authority.onSpace(orgRole: org.role("member"), spaceRole: space.role("viewer"))
        #expect(owner.permissions == Set(Permission.allCases))
        #expect(admin.permissions.contains(.membersRemove) && !admin.permissions.contains(.scopeManage))
        #expect(admin.outranks(space.role("manager")!))
        #expect(!member.canSee)
        #expect(viewer.permissions == [.scopeRead])
    }
}

@Suite struct LifecycleRuleTests {
    let ladder = RoleLadder(.org, roles: DefaultRoles.org)

    @Test(arguments: [(0, 1, true), (0, 0, false), (1, 5, false), (2, 2, false)])
    func lastOwner(ownersAfter: Int, membersAfter: Int, refused: Bool) {
        let result = Result { () throws(RosterError) in try Lifecycle.checkLastOwner(activeOwnersAfter: ownersAfter, activeMembersAfter: membersAfter) }
        #expect((try? result.get()) == nil ? refused : !refused)
    }

    @Test func customRoleRules() {
        #expect(throws: RosterError.self) { try RoleRules.validate(RoleDefinition(key: "boss", name: "Boss", rank: 300, permissions: []), in: ladder) }
        #expect(throws: RosterError.self) { try RoleRules.validate(RoleDefinition(key: "Bad Key", name: "B", rank: 50, permissions: []), in: ladder) }
        #expect(throws: Never.self) { try RoleRules.validate(RoleDefinition(key: "observer", name: "Observer", rank: 50, permissions: [.scopeRead]), in: ladder) }
    }

    @Test func slugsAndCursors() throws {
        #expect(OrganizationRules.slug(from: "  Ünïcode — Org!! ") == "unicode-org")
        #expect(OrganizationRules.slug(from: "!!!") == "org")
        #expect(OrganizationRules.isValidSlug("acme-2"))
        #expect(!OrganizationRules.isValidSlug("-acme"))
        #expect(!OrganizationRules.isValidSlug(UUID().uuidString.lowercased()))
        let cursor = PageCursor(key: "ünï@example.com", id: UUID())
        #expect(try PageCursor.decode(cursor.encoded) == cursor)
        #expect(throws: RosterError.self) { try PageCursor.decode("%%%") }
        #expect(throws: RosterError.self) { try PageCursor.limit(201) }
        #expect(try PageCursor.limit(nil) == 50)
    }
}

@Suite struct TimeOrderedIDTests {
    @Test func idsSortInCreationOrderEvenWithinOneMillisecond() {
        let now = Date()
        let ids = (0..<5000).map { _ in TimeOrderedID.make(now: now) }
        #expect(ids.map(\.uuidString) == ids.map(\.uuidString).sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids[0].uuidString.dropFirst(14).first == "7")
    }

    @Test func randomBytesFillBuffersLargerThanOneRequest() {
        func fill() -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 1000)   // four requests of at most 256 bytes
            bytes.withUnsafeMutableBytes { RandomBytes.fill($0) }
            return bytes
        }
        let (a, b) = (fill(), fill())
        #expect(a != b)
        #expect(a.suffix(744).contains { $0 != 0 } && b.suffix(744).contains { $0 != 0 })
    }
}

@Suite struct EmailTemplateTests {
    @Test(arguments: [(0.0, "1970-01-01 00:00 UTC"), (951_782_400, "2000-02-29 00:00 UTC"), (1_795_326_637, "2026-11-22 05:50 UTC")])
    func utcTimestamps(seconds: Double, expected: String) {
        #expect(EmailTemplates.utcTimestamp(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test func invitationSubjectAndFields() {
        let email = EmailTemplates.invitation(to: "a@example.com", inviterName: "Ada <x>", organization: "Acme", space: "Lab", roleName: "Editor",
                                              token: "T", expiresAt: Date(timeIntervalSince1970: 0))
        #expect(email.subject == "Ada <x> has invited you to join Lab in Acme")
        #expect(email.fields == ["inviter": "Ada <x>", "organization": "Acme", "space": "Lab", "role": "Editor", "token": "T",
                                 "expires_at": "1970-01-01 00:00 UTC"])
        #expect(email.payload.hasPrefix(#"{"expires_at":"1970-01-01 00:00 UTC","inviter":"Ada <x>""#))
    }
}

@Suite struct InvitationBudgetTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// The budget as the store reads it from every slot the organization took, for `takes` emails.
    func budget(perHour: Int, slots: [Date], now: Date, takes: Int = 1) -> InvitationBudget {
        let counting = slots.filter { $0 > InvitationBudget.window(now: now) }.sorted(by: >)
        let (limit, offset) = InvitationBudget.fetchWindow(perHour: perHour, takes: takes)
        return InvitationBudget(perHour: perHour, takes: takes, earliest: Array(counting.dropFirst(offset).prefix(limit)))
    }

    @Test func emailsOverTheBudgetWaitForTheirHour() {
        var budget = InvitationBudget(perHour: 2)
        let slots = (0..<5).map { _ in budget.take(now: t0) }
        #expect(slots == [t0, t0, t0 + 3600, t0 + 3600, t0 + 7200])
    }

    @Test func earlierSlotsCountUntilTheyAreAnHourOld() {
        var busy = budget(perHour: 2, slots: [t0 - 600, t0 - 1800, t0 - 7200], now: t0)
        #expect(busy.take(now: t0) == t0 + 1800, "the hour from t0 − 30 min holds two already")
        var later = budget(perHour: 2, slots: [t0 - 3600, t0 - 1800], now: t0)
        #expect(later.take(now: t0) == t0, "an email of exactly an hour ago no longer counts")
    }

    @Test func aBudgetReadsOnlyTheSlotsItsTakesNeed() {
        #expect(InvitationBudget.fetchWindow(perHour: 1_000_000, takes: 1) == (1, 999_999))
        #expect(InvitationBudget.fetchWindow(perHour: 500, takes: 3) == (3, 497))
        #expect(InvitationBudget.fetchWindow(perHour: 500, takes: 100_000) == (500, 0))
        var roomy = budget(perHour: 500, slots: Array(repeating: t0 - 60, count: 20), now: t0)
        #expect(roomy.take(now: t0) == t0, "room in the hour: the 500th newest slot does not exist")
    }

    /// Whatever the pattern of sending — one at a time or in batches, read as the store reads — no hour of any start
    /// holds more than the budget, and no email waits when the last hour has room.
    @Test(arguments: [1, 3, 10]) func noHourEverHoldsMoreThanTheBudget(perHour: Int) {
        var generator = SeededGenerator(seed: UInt64(perHour))
        var now = t0, slots: [Date] = []
        for _ in 0..<300 {
            now += Double(Int.random(in: 0...900, using: &generator))
            let takes = Int.random(in: 1...(perHour * 3), using: &generator)
            var budget = budget(perHour: perHour, slots: slots, now: now, takes: takes)
            for _ in 0..<takes {
                let slot = budget.take(now: now)
                #expect(slot >= now)
                if slots.filter({ $0 > now - 3600 }).count < perHour { #expect(slot == now) }
                slots.append(slot)
            }
        }
        for start in slots {
            #expect(slots.filter { $0 >= start && $0 < start + 3600 }.count <= perHour)
        }
    }
}

/// A small deterministic generator (SplitMix64) for property tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

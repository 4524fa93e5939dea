import Foundation

/// Time-driven and bulk endings, and the rules the decisions share (and the import planner uses).
extension Lifecycle {
    // MARK: Time and bulk endings

    static func expire(_ id: UUID, facts: ScopeFacts, now: Date) throws(RosterError) -> MembershipPlan {
        guard let row = facts.target, row.id == id, row.status == .pending, row.source == .invitation,
              let expiresAt = row.expiresAt, expiresAt <= now else { throw RosterError.notFound }
        var plan = MembershipPlan()
        plan.transition(row, to: .expired, event: .expired, actor: .system, guards: [.expiredBy(now)])
        plan.result = id
        return plan
    }

    static func deleteOrganization(facts: ScopeFacts) throws(RosterError) -> MembershipPlan {
        try facts.authority.require(.scopeManage)
        guard facts.authority.isOwner else { throw RosterError(.forbidden, "Only owners can delete an organization.") }
        var plan = MembershipPlan()
        for row in facts.endingRows { end(row, actor: facts.actor, into: &plan) }
        plan.deleteOrganizations.append(facts.scope.orgID)
        plan.audit.append(.init(action: "organization.deleted", actor: facts.actor, scope: ScopeRef(orgID: facts.scope.orgID)))
        return plan
    }

    static func deleteSpace(facts: ScopeFacts) throws(RosterError) -> MembershipPlan {
        try facts.authority.require(.scopeManage)
        guard let spaceID = facts.scope.spaceID else { throw RosterError.notFound }
        var plan = MembershipPlan()
        for row in facts.endingRows { end(row, actor: facts.actor, into: &plan) }
        plan.deleteSpace = spaceID
        plan.audit.append(.init(action: "space.deleted", actor: facts.actor, scope: facts.scope))
        return plan
    }

    /// Deleting an account ends every live row it holds (DESIGN §2, "account deleted"), refused with `last_owner`
    /// for the sole owner of an organization with other active members; an organization whose only active member
    /// it was is deleted with it.
    public static func deleteAccount(_ facts: AccountDeletionFacts) throws(RosterError) -> MembershipPlan {
        let actor = AuditActor.account(facts.accountID)
        var plan = MembershipPlan()
        for row in facts.rows where row.scope.spaceID == nil && row.status == .active && row.accountID == facts.accountID {
            guard let counts = facts.organizations[row.scope.orgID] else { continue }
            try checkLastOwner(activeOwnersAfter: counts.owners - (row.roleKey == DefaultRoles.ownerKey ? 1 : 0), activeMembersAfter: counts.members - 1)
        }
        for row in facts.rows { end(row, actor: actor, into: &plan) }
        for (orgID, rows) in facts.rowsOfEmptiedOrganizations.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
            for row in rows where !facts.rows.contains(where: { $0.id == row.id }) { end(row, actor: actor, into: &plan) }
            plan.deleteOrganizations.append(orgID)
            plan.audit.append(.init(action: "organization.deleted", actor: actor, scope: ScopeRef(orgID: orgID)))
        }
        plan.deleteAccount = facts.accountID
        return plan
    }

    /// A sync import's endings (`SyncOutcome`): each row ends as it does when its person goes (active → removed, a
    /// pending invitation → revoked, its emails superseded), and an organization member removed this way leaves the
    /// organization's spaces too, as a single removal does (`spaceRows`: the organization's live space rows).
    public static func syncEndings(_ rows: [MembershipFacts], spaceRows: [MembershipFacts], actor: AuditActor) -> MembershipPlan {
        var plan = MembershipPlan()
        var accounts = Set<UUID>(), emails = Set<String>()
        for row in rows {
            end(row, actor: actor, into: &plan)
            guard row.scope.spaceID == nil, row.status == .active else { continue }
            if let account = row.accountID { accounts.insert(account) }
            emails.insert(row.email)
        }
        for row in spaceRows where row.accountID.map(accounts.contains) ?? false
            || (row.source == .invitation && row.status == .pending && emails.contains(row.email)) {
            end(row, actor: actor, into: &plan)
        }
        return plan
    }

    /// How a live row ends when its person, scope or organization goes: active → removed, a pending invitation →
    /// revoked, a pending join request → withdrawn. Nil for a row that already ended.
    public static func ending(of row: MembershipFacts) -> (status: MembershipStatus, event: MembershipEvent)? {
        switch (row.status, row.source) {
        case (.active, _): (.removed, .removed)
        case (.pending, .joinRequest): (.withdrawn, .withdrawn)
        case (.pending, _): (.revoked, .revoked)
        default: nil
        }
    }

    /// Ends `row` (see `ending(of:)`), superseding the emails of an invitation.
    static func end(_ row: MembershipFacts, actor: AuditActor, into plan: inout MembershipPlan) {
        guard let ending = ending(of: row), let id = row.id else { return }
        plan.transition(row, to: ending.status, event: ending.event, actor: actor)
        if row.source == .invitation { plan.supersede.append(id) }
    }

    /// An org row of a person ended: their live rows in the org's spaces end with it (`facts.endingRows`).
    static func endSpaceRows(of row: MembershipFacts, facts: ScopeFacts, into plan: inout MembershipPlan) {
        guard row.scope.spaceID == nil else { return }
        for spaceRow in facts.endingRows where spaceRow.scope.spaceID != nil { end(spaceRow, actor: facts.actor, into: &plan) }
    }

    // MARK: Rules shared by the decisions (and the import planner)

    /// Refuses a change that would leave an organization with active members but no active owner
    /// (DESIGN §2, invariant 4), from the counts after the change.
    public static func checkLastOwner(activeOwnersAfter: Int, activeMembersAfter: Int) throws(RosterError) {
        if activeOwnersAfter == 0 && activeMembersAfter > 0 {
            throw RosterError(.lastOwner, "This would leave the organization without an active owner. Make someone else owner first.")
        }
    }

    /// An invitation (or an import, or a resend) by a person needs their verified email (DESIGN §2: "holder of
    /// `members.invite` with a verified email"): an unverified sign-up cannot send mail under any name it likes.
    public static func requireVerifiedInviter(_ person: ActingPerson?) throws(RosterError) {
        if let person, !person.emailVerified {
            throw RosterError(.forbidden, "Verify your email address before inviting anyone.")
        }
    }

    /// Whether an invitation or import row adds an existing verified account at once: the scope's add policy is
    /// `direct` (institution mode) and the actor holds `members.add_direct`.
    public static func addsDirectly(settings: ScopeSettings, authority: Authority) -> Bool {
        settings.addPolicy == .direct && authority.permissions.contains(.membersAddDirect)
    }

    /// Revoking, resending or changing a pending invitation of `role`: inviters may handle what they could have sent.
    static func requireMayRevoke(_ role: RoleDefinition, facts: ScopeFacts) throws(RosterError) {
        try facts.authority.require(.membersInvite)
        try facts.authority.requireMayGrant(role)
    }

    /// 409 `seat_limit` when the scope's live rows (active and pending) fill its seats.
    static func requireSeat(_ facts: ScopeFacts) throws(RosterError) {
        if let seatLimit = facts.settings.seatLimit, facts.liveRows >= seatLimit {
            throw RosterError(.seatLimit, "This roster has reached its seat limit of \(seatLimit) (active and pending).")
        }
    }

    /// 409 `external_id_taken` when another live row of the scope holds `externalID` (invariant 3; the unique
    /// index is the backstop).
    static func requireExternalIDFree(_ externalID: String, for row: MembershipFacts?, facts: ScopeFacts) throws(RosterError) {
        if let holder = facts.externalIDHolder, holder.externalID == externalID, holder.id != row?.id {
            throw UniqueRule.externalIDTaken
        }
    }

    /// When a new invitation email goes: the next slot of the organization's budget. Its invitation expires
    /// counting from then.
    static func invitationSlot(_ facts: ScopeFacts, now: Date) -> Date {
        var budget = facts.invitationBudget
        return budget.take(now: now)
    }

    /// An invitation email, going at `sendAt`.
    static func invitationEmail(to email: String, role: RoleDefinition, token: String, expiresAt: Date, membershipID: UUID?, facts: ScopeFacts,
                                sendAt: Date) -> MembershipPlan.Email {
        .init(message: EmailTemplates.invitation(to: email, inviterName: facts.actorName, organization: facts.orgName, space: facts.spaceName,
                                                  roleName: role.name, token: token, expiresAt: expiresAt),
              orgID: facts.scope.orgID, membershipID: membershipID, sendAt: sendAt)
    }

    /// When a pending invitation sent at `now` with a TTL of `days` expires.
    public static func expiry(from now: Date, ttlDays: Int) -> Date {
        now.addingTimeInterval(Double(ttlDays) * 86_400)
    }
}

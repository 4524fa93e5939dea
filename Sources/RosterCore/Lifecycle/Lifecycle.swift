import Foundation

/// The membership lifecycle of DESIGN §2: every transition is decided here, from facts the store read under the
/// organization's lock, into a `MembershipPlan` the store applies in one transaction. Pure: no clock, no randomness,
/// no I/O (the time and fresh values are passed in).
public enum Lifecycle {
    /// Decides `command` on `facts` at `now`; throws the refusal DESIGN §2 and §9 name.
    public static func decide(_ command: MembershipCommand, facts: ScopeFacts, now: Date, fresh: FreshValues) throws(RosterError) -> MembershipPlan {
        switch command {
        case .invite(let input): return try invite(input, facts: facts, now: now, fresh: fresh)
        case .resend(let id, let newEmail): return try resend(id, to: newEmail, facts: facts, now: now, fresh: fresh)
        case .update(let id, let update): return try self.update(id, update, facts: facts)
        case .remove(let id): return try remove(id, facts: facts)
        case .leave: return try leave(facts: facts)
        case .requestToJoin(let message): return try requestToJoin(message: message, facts: facts, fresh: fresh)
        case .approve(let id, let role): return try review(id, approve: true, role: role, facts: facts)
        case .reject(let id): return try review(id, approve: false, role: nil, facts: facts)
        case .withdraw(let id): return try withdraw(id, facts: facts)
        case .accept(let handle): return try respond(handle, accept: true, facts: facts, now: now)
        case .decline(let handle): return try respond(handle, accept: false, facts: facts, now: now)
        case .expire(let id): return try expire(id, facts: facts, now: now)
        case .deleteOrganization: return try deleteOrganization(facts: facts)
        case .deleteSpace: return try deleteSpace(facts: facts)
        case .joinByLink(let id): return try joinByLink(id, facts: facts, now: now, fresh: fresh)
        case .joinByDomain: return try joinByDomain(facts: facts, fresh: fresh)
        case .provision(let input): return try provision(input, facts: facts, now: now, fresh: fresh)
        }
    }

    // MARK: Admin side

    static func invite(_ input: InviteInput, facts: ScopeFacts, now: Date, fresh: FreshValues) throws(RosterError) -> MembershipPlan {
        let authority = facts.authority
        let role = try facts.ladder.roleOrDefault(input.role)
        let direct = addsDirectly(settings: facts.settings, authority: authority) && facts.invitedAccount?.emailVerified == true
        try authority.require(direct ? .membersAddDirect : .membersInvite)
        try authority.requireMayGrant(role)
        try requireVerifiedInviter(facts.person)
        // Invalid attributes are refused before any conflict with an existing row.
        let attributes = try AttributeDefinition.resolve(input.attributes, definitions: facts.attributeDefinitions)
        var plan = MembershipPlan()
        if let existing = facts.existing {
            switch (existing.status, existing.source) {
            case (.active, _):
                throw RosterError(.alreadyMember, "This person is already an active member here.")
            case (.pending, .joinRequest):
                // Both sides consented, but only a reviewer may turn a request into a membership.
                guard authority.permissions.contains(.requestsReview) else {
                    throw RosterError(.joinRequestPending, "This person asked to join; a reviewer of join requests must approve the request.")
                }
                let merged = try AttributeDefinition.resolve(input.attributes, current: existing.attributes, definitions: facts.attributeDefinitions)
                if let externalID = input.externalID { try requireExternalIDFree(externalID, for: existing, facts: facts) }
                plan.transition(existing, to: .active, event: .mutualIntent, actor: facts.actor,
                                set: MembershipChanges(roleKey: role.key, externalID: input.externalID.map { .some($0) },
                                                       attributes: merged, name: input.name.map { .some($0) }))
                plan.emails.append(.init(message: EmailTemplates.joinRequestDecided(to: existing.email, approved: true, organization: facts.orgName,
                                                                                    space: facts.spaceName, roleName: role.name),
                                         orgID: facts.scope.orgID, membershipID: existing.id))
                plan.result = existing.id
                plan.lostRace = RosterError(.conflict, "The join request changed meanwhile; try again.")
                return plan
            default:
                throw RosterError(.alreadyInvited, "An invitation to this email is already pending here. Use resend to send it again.")
            }
        }
        try requireSeat(facts)
        if let externalID = input.externalID { try requireExternalIDFree(externalID, for: nil, facts: facts) }
        var row = MembershipPlan.NewRow(
            id: fresh.id, scope: facts.scope, email: input.email, name: input.name, roleKey: role.key, status: .pending, source: .invitation,
            accountID: nil, externalID: input.externalID, attributes: attributes, invitedBy: facts.actor.id)
        plan.result = fresh.id
        if direct, let account = facts.invitedAccount {
            row.status = .active
            row.source = .direct
            row.accountID = account.id
            row.name = input.name ?? account.name
            plan.insert(row, event: .added, actor: facts.actor)
            return plan
        }
        row.tokenHash = fresh.tokenHash
        let sendAt = invitationSlot(facts, now: now)
        let expiresAt = expiry(from: sendAt, ttlDays: facts.settings.invitationTTLDays)
        let email = invitationEmail(to: input.email, role: role, token: fresh.token, expiresAt: expiresAt, membershipID: fresh.id,
                                    facts: facts, sendAt: sendAt)
        row.expiresAt = expiresAt
        row.deliveryStatus = "queued"
        row.deliveryAt = sendAt
        plan.insert(row, event: .invited, actor: facts.actor)
        plan.emails.append(email)
        return plan
    }

    static func resend(_ id: UUID, to newEmail: String?, facts: ScopeFacts, now: Date, fresh: FreshValues) throws(RosterError) -> MembershipPlan {
        guard facts.authority.canSee, let row = facts.target, row.id == id else { throw RosterError.notFound }
        let role = try facts.ladder.require(row.roleKey)
        try requireMayRevoke(role, facts: facts)
        try requireVerifiedInviter(facts.person)
        guard row.source == .invitation, row.status == .pending || row.status == .expired else {
            throw RosterError(.conflict, "Only pending or expired invitations can be resent; this row is \(row.status.rawValue).")
        }
        var plan = MembershipPlan()
        let sendAt = invitationSlot(facts, now: now)
        let expiresAt = expiry(from: sendAt, ttlDays: facts.settings.invitationTTLDays)
        // Earlier emails of this invitation that have not gone out yet never will: their link is dead.
        plan.supersede.append(id)
        let correcting = newEmail.map { $0 != row.email } ?? false
        let email = invitationEmail(to: newEmail ?? row.email, role: role, token: fresh.token, expiresAt: expiresAt,
                                    membershipID: correcting ? fresh.id : id, facts: facts, sendAt: sendAt)
        if let newEmail, correcting {
            if let existing = facts.existing {
                switch (existing.status, existing.source) {
                case (.active, _): throw RosterError(.alreadyMember, "The corrected address already belongs to an active member here.")
                case (.pending, .joinRequest): throw RosterError(.joinRequestPending, "The corrected address asked to join; review the request instead.")
                default: throw RosterError(.alreadyInvited, "The corrected address already has a pending invitation here.")
                }
            }
            if row.status == .pending {
                plan.transition(row, to: .revoked, event: .revoked, actor: facts.actor)
            } else {
                try requireSeat(facts)  // an expired row holds no seat
                if let externalID = row.externalID { try requireExternalIDFree(externalID, for: row, facts: facts) }
            }
            let invitation = MembershipPlan.NewRow(
                id: fresh.id, scope: facts.scope, email: newEmail, name: row.name, roleKey: role.key, status: .pending, source: .invitation,
                accountID: nil, externalID: row.externalID, attributes: row.attributes, invitedBy: facts.actor.id,
                tokenHash: fresh.tokenHash, expiresAt: expiresAt, deliveryStatus: "queued", deliveryAt: sendAt)
            plan.insert(invitation, event: .invited, actor: facts.actor)
            plan.result = fresh.id
        } else {
            if row.status == .expired {
                try requireSeat(facts)
                if let externalID = row.externalID { try requireExternalIDFree(externalID, for: row, facts: facts) }
            }
            plan.transition(row, to: .pending, event: .resent, actor: facts.actor,
                            set: MembershipChanges(tokenHash: fresh.tokenHash, expiresAt: expiresAt, deliveryStatus: "queued", deliveryAt: sendAt,
                                                   reopen: true))
            plan.result = id
        }
        plan.emails.append(email)
        return plan
    }

    static func update(_ id: UUID, _ update: MemberUpdate, facts: ScopeFacts) throws(RosterError) -> MembershipPlan {
        guard facts.authority.canSee, let row = facts.target, row.id == id else { throw RosterError.notFound }
        let authority = facts.authority
        let current = try facts.ladder.require(row.roleKey)
        let newRole = try update.role.map { key throws(RosterError) in try facts.ladder.require(key) }
        switch (row.status, row.source) {
        case (.active, _):
            try authority.require(.membersSetRole)
            if let newRole {
                let actorIsTarget = row.accountID != nil && row.accountID == facts.person?.id
                if actorIsTarget && newRole.rank > current.rank {
                    throw RosterError(.roleEscalation, "Nobody can raise their own role.")
                }
                try authority.requireMayActOn(current)
                try authority.requireMayGrant(newRole)
            } else {
                try authority.requireMayActOn(current)
            }
            if row.scope.spaceID == nil, current.isOwner, let newRole, !newRole.isOwner {
                try checkLastOwner(activeOwnersAfter: facts.ownerCounts.owners - 1, activeMembersAfter: facts.ownerCounts.members)
            }
        case (.pending, .invitation):
            try requireMayRevoke(current, facts: facts)
            if let newRole { try authority.requireMayGrant(newRole) }
        default:
            throw RosterError(.conflict, "Only active members and pending invitations can be changed; this row is \(row.status.rawValue) (\(row.source.rawValue)).")
        }
        if case .some(.some(let externalID)) = update.externalID { try requireExternalIDFree(externalID, for: row, facts: facts) }
        let attributes = try update.attributes.map { given throws(RosterError) in
            try AttributeDefinition.resolve(given, current: row.attributes, definitions: facts.attributeDefinitions)
        }
        var plan = MembershipPlan()
        let event: MembershipEvent = newRole != nil && newRole?.key != current.key ? .roleChanged : .updated
        plan.transition(row, to: row.status, event: event, actor: facts.actor,
                        set: MembershipChanges(roleKey: newRole?.key, externalID: update.externalID, attributes: attributes, name: update.name))
        plan.result = id
        return plan
    }

    static func remove(_ id: UUID, facts: ScopeFacts) throws(RosterError) -> MembershipPlan {
        guard facts.authority.canSee, let row = facts.target, row.id == id else { throw RosterError.notFound }
        let role = try facts.ladder.require(row.roleKey)
        var plan = MembershipPlan()
        switch (row.status, row.source) {
        case (.active, _):
            try facts.authority.require(.membersRemove)
            try facts.authority.requireMayActOn(role)
            if row.scope.spaceID == nil {
                try checkLastOwner(activeOwnersAfter: facts.ownerCounts.owners - (role.isOwner ? 1 : 0), activeMembersAfter: facts.ownerCounts.members - 1)
            }
            plan.transition(row, to: .removed, event: .removed, actor: facts.actor)
            endSpaceRows(of: row, facts: facts, into: &plan)
        case (.pending, .invitation):
            try requireMayRevoke(role, facts: facts)
            plan.transition(row, to: .revoked, event: .revoked, actor: facts.actor)
            plan.supersede.append(id)
        case (.pending, _):
            throw RosterError(.conflict, "This is a join request: reject it under join-requests.")
        default:
            throw RosterError(.conflict, "This membership has already ended (\(row.status.rawValue)).")
        }
        plan.result = id
        return plan
    }

    static func leave(facts: ScopeFacts) throws(RosterError) -> MembershipPlan {
        guard let person = facts.person else { throw RosterError(.forbidden, "Only a person can leave; API keys are not members.") }
        guard let row = facts.target, row.status == .active, row.accountID == person.id else { throw RosterError.notFound }
        var plan = MembershipPlan()
        plan.transition(row, to: .left, event: .left, actor: facts.actor)
        if row.scope.spaceID == nil {
            let role = facts.ladder.role(row.roleKey)
            try checkLastOwner(activeOwnersAfter: facts.ownerCounts.owners - (role?.isOwner == true ? 1 : 0), activeMembersAfter: facts.ownerCounts.members - 1)
            if facts.ownerCounts.members == 1 {
                // The last member leaves: the organization goes with them, and every other live row in it ends.
                for other in facts.endingRows where other.id != row.id { end(other, actor: facts.actor, into: &plan) }
                plan.deleteOrganizations.append(facts.scope.orgID)
                plan.audit.append(.init(action: "organization.deleted", actor: facts.actor, scope: ScopeRef(orgID: facts.scope.orgID)))
            } else {
                endSpaceRows(of: row, facts: facts, into: &plan)
            }
        }
        plan.result = row.id
        return plan
    }

    // MARK: Join requests

    static func requestToJoin(message: String?, facts: ScopeFacts, fresh: FreshValues) throws(RosterError) -> MembershipPlan {
        guard let person = facts.person else {
            throw RosterError(.forbidden, "Only a signed-in person can ask to join; API keys cannot request on someone's behalf.")
        }
        // A space takes requests from its organization's active members only; to others it does not exist.
        if facts.scope.spaceID != nil && !facts.isOrgMember { throw RosterError.notFound }
        try requireNoLiveRowOfTheirOwn(facts)
        // A closed scope is not discoverable (the same 404 as one that does not exist), unless the organization
        // verified the person's email domain with a policy that opens requests.
        guard facts.settings.joinPolicy == .request || facts.verifiedDomain?.policy.opensRequests == true else { throw RosterError.notFound }
        guard person.emailVerified else { throw RosterError(.forbidden, "Verify your email address before asking to join.") }
        try requireRoomForAJoinRequest(facts)
        try requireSeat(facts)
        let role = try facts.ladder.roleOrDefault(nil)
        var plan = MembershipPlan()
        plan.insert(.init(id: fresh.id, scope: facts.scope, email: person.email, name: person.name, roleKey: role.key, status: .pending,
                          source: .joinRequest, accountID: person.id, externalID: nil, attributes: [:], message: message),
                    event: .requested, actor: facts.actor)
        plan.emails += joinRequestEmails(from: person, message: message, facts: facts, membershipID: fresh.id)
        plan.result = fresh.id
        return plan
    }

    /// Refuses another join request from a person who has as many pending as an account may (whichever door opens it).
    static func requireRoomForAJoinRequest(_ facts: ScopeFacts) throws(RosterError) {
        if facts.pendingJoinRequestsOfPerson >= facts.limits.pendingJoinRequestsPerAccount {
            throw RosterError(.joinRequestPending, "You already have \(facts.pendingJoinRequestsOfPerson) pending join request(s); withdraw one or wait for a decision.")
        }
    }

    /// Joining through an invite link (issue 16): a signed-in person with a verified email in one of the link's
    /// domains becomes an active member with the link's role (source `link`), or — when the link requires approval —
    /// asks to join. Each use is counted atomically by the store (`plan.useLink`); the seat limit and every invariant
    /// hold as for any other new row. A space's link serves its organization's members only.
    static func joinByLink(_ id: UUID, facts: ScopeFacts, now: Date, fresh: FreshValues) throws(RosterError) -> MembershipPlan {
        guard let person = facts.person else {
            throw RosterError(.forbidden, "Only a signed-in person can join through an invite link; API keys cannot.")
        }
        guard let link = facts.link, link.id == id else { throw RosterError.notFound }
        if let refusal = link.refusal(now: now) { throw refusal }
        guard person.emailVerified else { throw RosterError(.forbidden, "Verify your email address before joining.") }
        guard link.allows(email: person.email) else {
            throw RosterError(.emailDomainNotAllowed, "This link is for addresses at \(link.allowedDomains.joined(separator: ", ")); you are signed in as \(person.email).")
        }
        if facts.scope.spaceID != nil && !facts.isOrgMember {
            throw RosterError(.forbidden, "This link is for members of \(facts.orgName): join the organization first.")
        }
        try requireNoLiveRowOfTheirOwn(facts)
        if let ending = facts.lastEnding, ending == .removed || ending == .rejected {
            throw RosterError(.forbidden, "Your membership here was ended by an admin; an invite link does not bring you back. Ask them to invite you.")
        }
        try requireSeat(facts)
        let role = try facts.ladder.require(link.roleKey)
        var plan = MembershipPlan()
        plan.useLink = link.id
        plan.lostRace = RosterError(.linkUnusable, InviteLinkState.exhausted.whyUnusable ?? "")
        if link.requiresApproval {
            try requireRoomForAJoinRequest(facts)
            plan.insert(.init(id: fresh.id, scope: facts.scope, email: person.email, name: person.name, roleKey: role.key, status: .pending,
                              source: .joinRequest, accountID: person.id, externalID: nil, attributes: [:], message: "Through an invite link.",
                              inviteLinkID: link.id),
                        event: .requested, actor: facts.actor)
            plan.emails += joinRequestEmails(from: person, message: "Through an invite link.", facts: facts, membershipID: fresh.id)
        } else {
            let defaults = try AttributeDefinition.resolve([:], definitions: facts.attributeDefinitions)
            plan.insert(.init(id: fresh.id, scope: facts.scope, email: person.email, name: person.name, roleKey: role.key, status: .active,
                              source: .link, accountID: person.id, externalID: nil, attributes: defaults, inviteLinkID: link.id),
                        event: .joinedByLink, actor: facts.actor)
        }
        plan.result = fresh.id
        return plan
    }

    /// Joining by a verified domain (issue 16): a person whose verified email is in a domain the organization
    /// verified with the `auto` policy becomes an active member with the domain's role (source `domain`) — unless
    /// they already have a live row here, or their membership ended before by a decision (leaving, removal,
    /// declining, rejection), or the seats are taken.
    static func joinByDomain(facts: ScopeFacts, fresh: FreshValues) throws(RosterError) -> MembershipPlan {
        guard let person = facts.person, facts.scope.spaceID == nil, let domain = facts.verifiedDomain, domain.policy == .auto,
              person.emailVerified else { throw RosterError.notFound }
        try requireNoLiveRowOfTheirOwn(facts)
        if facts.endedBefore { throw RosterError(.conflict, "This person's membership here ended before; joining by domain does not bring them back.") }
        try requireSeat(facts)
        let role = try facts.ladder.roleOrDefault(domain.roleKey)
        // The domain's role never makes an owner: ownership is given by a person.
        guard !role.isOwner else { throw RosterError(.roleEscalation, "A verified domain cannot make owners.") }
        var plan = MembershipPlan()
        plan.insert(.init(id: fresh.id, scope: facts.scope, email: person.email, name: person.name, roleKey: role.key, status: .active,
                          source: .domain, accountID: person.id, externalID: nil, attributes: [:]),
                    event: .joinedByDomain, actor: facts.actor)
        plan.result = fresh.id
        return plan
    }

    /// Provisioning by the organization's identity provider (SCIM; issue 16). Consent first: the person becomes an
    /// active member (source `scim`) only when the organization verified their email's domain — with their verified
    /// account, or a new verified account whose password they choose by a reset link; an account that exists
    /// unverified, or an unverified domain, gets an invitation instead (the organization's add policy applies, as for
    /// any invitation). A live row the person already has (active, or a pending invitation) is adopted, with the
    /// external ID the provider gives, unless its role is above what the provider may grant (an owner: the provider
    /// could not end it later). A pending join request is approved: the person asked, their provider says yes.
    static func provision(_ input: InviteInput, facts: ScopeFacts, now: Date, fresh: FreshValues) throws(RosterError) -> MembershipPlan {
        try facts.authority.require(.scim)
        if let existing = facts.existing, let id = existing.id, existing.status == .pending, existing.source == .joinRequest {
            let role = try facts.ladder.require(existing.roleKey)
            try facts.authority.requireMayGrant(role)
            if let externalID = input.externalID { try requireExternalIDFree(externalID, for: existing, facts: facts) }
            var plan = decide(request: existing, approve: true, role: role, externalID: input.externalID.map { .some($0) }, facts: facts)
            plan.result = id
            return plan
        }
        if let existing = facts.existing, let id = existing.id,
           existing.status == .active || (existing.status == .pending && existing.source == .invitation) {
            if let role = facts.ladder.role(existing.roleKey) { try facts.authority.requireMayGrant(role) }
            var plan = MembershipPlan()
            plan.result = id
            if let externalID = input.externalID, externalID != existing.externalID {
                try requireExternalIDFree(externalID, for: existing, facts: facts)
                plan.transition(existing, to: existing.status, event: .updated, actor: facts.actor, set: MembershipChanges(externalID: .some(externalID)))
            }
            return plan
        }
        guard facts.emailDomainVerified, facts.invitedAccount?.emailVerified ?? true else {
            return try invite(input, facts: facts, now: now, fresh: fresh)
        }
        let role = try facts.ladder.roleOrDefault(input.role)
        try facts.authority.requireMayGrant(role)
        if facts.existing != nil { return try invite(input, facts: facts, now: now, fresh: fresh) }   // the invitation's refusals
        try requireSeat(facts)
        if let externalID = input.externalID { try requireExternalIDFree(externalID, for: nil, facts: facts) }
        let attributes = try AttributeDefinition.resolve(input.attributes, definitions: facts.attributeDefinitions)
        var plan = MembershipPlan()
        let accountID: UUID
        let name = input.name ?? facts.invitedAccount?.name ?? String(input.email.prefix { $0 != "@" })
        if let account = facts.invitedAccount {
            accountID = account.id
        } else {
            accountID = fresh.accountID
            plan.accounts.append(.init(id: accountID, email: input.email, name: name, passwordHash: fresh.unusablePasswordHash))
        }
        plan.insert(.init(id: fresh.id, scope: facts.scope, email: input.email, name: name, roleKey: role.key, status: .active, source: .scim,
                          accountID: accountID, externalID: input.externalID, attributes: attributes, invitedBy: facts.actor.id),
                    event: .provisioned, actor: facts.actor)
        plan.result = fresh.id
        return plan
    }

    /// Refuses a person who already has a live row here (asking to join, joining by link): a member, a pending
    /// request, or a pending invitation to accept instead.
    static func requireNoLiveRowOfTheirOwn(_ facts: ScopeFacts) throws(RosterError) {
        guard let existing = facts.existing else { return }
        switch (existing.status, existing.source) {
        case (.active, _): throw RosterError(.alreadyMember, "You are already a member here.")
        case (.pending, .joinRequest): throw RosterError(.joinRequestPending, "Your request to join is already pending.")
        default:
            var error = RosterError(.invitationPending, "You have a pending invitation here: accept it instead (POST /v1/invitations/{invitation_id}/accept).")
            if let id = existing.id { error.extensions["invitation_id"] = id.uuidString }
            throw error
        }
    }

    /// The emails telling the scope's reviewers of `person`'s new join request.
    static func joinRequestEmails(from person: ActingPerson, message: String?, facts: ScopeFacts, membershipID: UUID) -> [MembershipPlan.Email] {
        let reviewPath = facts.scope.spaceID.map { "/spaces/\($0.uuidString.lowercased())/join-requests" } ?? "/orgs/\(facts.orgSlug)/join-requests"
        return Set(facts.reviewerEmails).sorted().map { reviewer in
            .init(message: EmailTemplates.joinRequest(to: reviewer, requesterName: person.name, requesterEmail: person.email,
                                                      organization: facts.orgName, space: facts.spaceName, message: message, reviewPath: reviewPath),
                  orgID: facts.scope.orgID, membershipID: membershipID)
        }
    }

    static func review(_ id: UUID, approve: Bool, role roleKey: String?, facts: ScopeFacts) throws(RosterError) -> MembershipPlan {
        try facts.authority.require(.requestsReview)
        guard let row = facts.target, row.id == id, row.source == .joinRequest else { throw RosterError.notFound }
        let role = try facts.ladder.require(roleKey ?? row.roleKey)
        if approve { try facts.authority.requireMayGrant(role) }
        guard row.status == .pending else { throw RosterError(.conflict, "This join request is no longer pending (\(row.status.rawValue)).") }
        var plan = decide(request: row, approve: approve, role: role, facts: facts)
        plan.result = id
        return plan
    }

    /// Approving (in `role`, with `externalID` when given) or rejecting the pending join request `row`, and telling
    /// the person.
    static func decide(request row: MembershipFacts, approve: Bool, role: RoleDefinition, externalID: String?? = nil,
                       facts: ScopeFacts) -> MembershipPlan {
        var plan = MembershipPlan()
        plan.transition(row, to: approve ? .active : .rejected, event: approve ? .approved : .rejected, actor: facts.actor,
                        set: MembershipChanges(roleKey: approve ? role.key : nil, externalID: externalID))
        plan.emails.append(.init(message: EmailTemplates.joinRequestDecided(to: row.email, approved: approve, organization: facts.orgName,
                                                                            space: facts.spaceName, roleName: approve ? role.name : nil),
                                 orgID: facts.scope.orgID, membershipID: row.id))
        return plan
    }

    static func withdraw(_ id: UUID, facts: ScopeFacts) throws(RosterError) -> MembershipPlan {
        guard let person = facts.person, let row = facts.target, row.id == id, row.source == .joinRequest, row.status == .pending,
              row.accountID == person.id else { throw RosterError.notFound }
        var plan = MembershipPlan()
        plan.transition(row, to: .withdrawn, event: .withdrawn, actor: facts.actor, guards: [.account(person.id)])
        plan.result = id
        plan.lostRace = RosterError.notFound
        return plan
    }

    // MARK: Invitee side

    /// Accepts or declines for the invitee only. Every refusal is the opaque 404 (DESIGN §2 invariant 7).
    static func respond(_ handle: InviteeHandle, accept: Bool, facts: ScopeFacts, now: Date) throws(RosterError) -> MembershipPlan {
        guard let person = facts.person, let row = facts.target, let id = row.id, row.source == .invitation else { throw RosterError.notFound }
        var plan = MembershipPlan()
        plan.result = id
        plan.lostRace = RosterError.notFound
        // Re-accepting what this invitee already accepted is idempotent.
        if accept, row.status == .active, row.accountID == person.id { return plan }
        var guards: [MembershipPlan.Guard] = [.email(person.email), .expiresAfter(now)]
        switch handle {
        case .id:
            // By id: only the signed-in account whose verified email is the invited one.
            guard person.emailVerified, row.email == person.email else { throw RosterError.notFound }
        case .token(let hash):
            // Signed in as another account: the same 404, and the invitation stays usable.
            guard row.email == person.email else { throw RosterError.notFound }
            guards.append(.tokenHash(hash))
            // The emailed token proves control of the address.
            if !person.emailVerified { plan.verifyEmailOf = person.id }
        }
        guard row.status == .pending, let expiresAt = row.expiresAt, expiresAt > now else { throw RosterError.notFound }
        plan.transition(row, to: accept ? .active : .declined, event: accept ? .accepted : .declined, actor: facts.actor,
                        set: accept ? MembershipChanges(name: .some(row.name ?? person.name), accountID: person.id) : MembershipChanges(),
                        guards: guards)
        // An email still waiting for its budget slot would carry a dead link; its slot goes back to the organization.
        if let id = row.id { plan.supersede.append(id) }
        return plan
    }
}

/// The refusals that mean a uniqueness rule of DESIGN §2 (invariants 2 and 3), whether the engine or the database's
/// unique index found the clash.
public enum UniqueRule {
    public static let externalIDTaken = RosterError(.externalIDTaken, "Another live membership here already has this external ID.")
    public static let personTaken = RosterError(.alreadyInvited, "This person already has a pending invitation, request or membership here.")
}

extension MembershipPlan.AuditEntry {
    /// An event on a scope, not on one membership row.
    init(action: String, actor: AuditActor, scope: ScopeRef) {
        self.init(action: action, actor: actor, scope: scope, membershipID: nil, targetAccountID: nil, targetEmail: nil, before: nil, after: nil)
    }
}

extension Lifecycle {
    /// Whether an identity provider's user may be put in a group (a space of its organization): only while the user
    /// is active and its organization row lives. A deactivated user, or one an administrator removed (whose decision
    /// stands), does not come back through a group.
    public static func mayJoinGroup(userActive: Bool?, organizationRow: MembershipStatus?) -> Bool {
        userActive != false && organizationRow?.isLive == true
    }
}

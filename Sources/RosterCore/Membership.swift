import Foundation

/// Where a membership row is in its life (DESIGN §2).
public enum MembershipStatus: String, Codable, Sendable, CaseIterable {
    case pending, active, declined, revoked, rejected, withdrawn, expired, removed, left

    /// Live rows are unique per scope and person; ended rows are history.
    public var isLive: Bool { self == .pending || self == .active }

    /// The statuses that count as live, for SQL.
    public static let live: [MembershipStatus] = [.pending, .active]
}

/// Whose consent a pending row waits for, and how an active row came to be.
public enum MembershipSource: String, Codable, Sendable, CaseIterable {
    case invitation
    case joinRequest = "join_request"
    case direct
    case creator
}

/// The events of the lifecycle, named as the audit log names them.
public enum MembershipEvent: String, Codable, Sendable, CaseIterable {
    case invited = "membership.invited"
    case added = "membership.added"
    case created = "membership.created"
    case accepted = "invitation.accepted"
    case declined = "invitation.declined"
    case revoked = "invitation.revoked"
    case resent = "invitation.resent"
    case expired = "invitation.expired"
    case requested = "join_request.created"
    case approved = "join_request.approved"
    case rejected = "join_request.rejected"
    case withdrawn = "join_request.withdrawn"
    case mutualIntent = "membership.activated_by_mutual_intent"
    case roleChanged = "membership.role_changed"
    case updated = "membership.updated"
    case removed = "membership.removed"
    case left = "membership.left"
}

/// The facts about one membership row that the rules decide on.
public struct MembershipFacts: Sendable, Equatable {
    public var id: UUID?
    public var status: MembershipStatus
    public var source: MembershipSource
    public var roleKey: String
    public var accountID: UUID?
    public var email: String

    public init(id: UUID? = nil, status: MembershipStatus, source: MembershipSource, roleKey: String, accountID: UUID?, email: String) {
        self.id = id
        self.status = status
        self.source = source
        self.roleKey = roleKey
        self.accountID = accountID
        self.email = email
    }
}

/// The decisions of the membership lifecycle. Pure: callers load the facts, apply the outcome atomically.
public enum Lifecycle {
    /// What inviting an email does, given the live row already held in the scope by that email or its account.
    public enum InviteOutcome: Sendable, Equatable {
        /// Write a new pending invitation.
        case invite
        /// The person asked to join already: both sides consented, activate their request with the invited role.
        case activateJoinRequest
    }

    /// Decides an invitation (or a direct add, with `direct`) of `role` by an actor with `authority`.
    public static func invite(
        authority: Authority, role: RoleDefinition, existing: MembershipFacts?, direct: Bool = false
    ) throws(RosterError) -> InviteOutcome {
        try authority.require(direct ? .membersAddDirect : .membersInvite)
        try authority.requireMayGrant(role)
        guard let existing else { return .invite }
        switch (existing.status, existing.source) {
        case (.active, _):
            throw RosterError(.alreadyMember, "This person is already an active member here.")
        case (.pending, .joinRequest):
            return .activateJoinRequest
        default:
            throw RosterError(.alreadyInvited, "An invitation to this email is already pending here. Use resend to send it again.")
        }
    }

    /// Decides a join request by a person, given their live row in the scope.
    public static func requestToJoin(joinPolicyIsRequest: Bool, emailVerified: Bool, existing: MembershipFacts?) throws(RosterError) {
        if let existing {
            switch (existing.status, existing.source) {
            case (.active, _): throw RosterError(.alreadyMember, "You are already a member here.")
            case (.pending, .joinRequest): throw RosterError(.joinRequestPending, "Your request to join is already pending.")
            default:
                var error = RosterError(.invitationPending, "You have a pending invitation here: accept it instead (POST /v1/invitations/{invitation_id}/accept).")
                if let id = existing.id { error.extensions["invitation_id"] = id.uuidString }
                throw error
            }
        }
        // A closed organization is not discoverable: the same 404 as one that does not exist.
        guard joinPolicyIsRequest else { throw RosterError.notFound }
        guard emailVerified else {
            throw RosterError(.forbidden, "Verify your email address before asking to join.")
        }
    }

    /// Checks a role change of a member holding `current` to `new`.
    public static func changeRole(authority: Authority, current: RoleDefinition, new: RoleDefinition, actorIsTarget: Bool) throws(RosterError) {
        try authority.require(.membersSetRole)
        if actorIsTarget && new.rank > current.rank {
            throw RosterError(.roleEscalation, "Nobody can raise their own role.")
        }
        try authority.requireMayActOn(current)
        try authority.requireMayGrant(new)
    }

    /// Checks removing an active member holding `role`.
    public static func remove(authority: Authority, role: RoleDefinition) throws(RosterError) {
        try authority.require(.membersRemove)
        try authority.requireMayActOn(role)
    }

    /// Checks revoking a pending invitation of `role`: inviters may cancel what they could have sent.
    public static func revoke(authority: Authority, role: RoleDefinition) throws(RosterError) {
        try authority.require(.membersInvite)
        try authority.requireMayGrant(role)
    }

    /// Refuses a change that would leave an organization with active members but no active owner
    /// (DESIGN §2, invariant 4). Callers count under lock, after the change: active owner rows and active rows.
    public static func checkLastOwner(activeOwnersAfter: Int, activeMembersAfter: Int) throws(RosterError) {
        if activeOwnersAfter == 0 && activeMembersAfter > 0 {
            throw RosterError(.lastOwner, "This would leave the organization without an active owner. Make someone else owner first.")
        }
    }

    /// When a pending invitation sent at `now` with a TTL of `days` expires.
    public static func expiry(from now: Date, ttlDays: Int) -> Date {
        now.addingTimeInterval(Double(ttlDays) * 86_400)
    }
}

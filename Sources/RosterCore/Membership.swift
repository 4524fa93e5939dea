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
    /// Joined through a shareable invite link.
    case link
    /// Joined because their verified email is in a domain the organization verified, under its `auto` policy.
    case domain
    /// Provisioned by the organization's identity provider over SCIM.
    case scim
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
    case joinedByLink = "membership.joined_by_link"
    case joinedByDomain = "membership.joined_by_domain"
    case provisioned = "membership.provisioned"
}

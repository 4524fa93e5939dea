import Foundation

/// A shareable invite link of an organization or a space (issue 16, point 1), as the lifecycle decides on it.
public struct InviteLinkFacts: Sendable, Equatable {
    public var id: UUID
    public var roleKey: String
    public var maxUses: Int?
    public var uses: Int
    public var expiresAt: Date?
    public var revokedAt: Date?
    /// Email domains whose verified addresses may use the link (empty: any).
    public var allowedDomains: [String]
    /// Joining makes a pending join request for a reviewer instead of a membership.
    public var requiresApproval: Bool

    public init(id: UUID, roleKey: String, maxUses: Int?, uses: Int, expiresAt: Date?, revokedAt: Date?, allowedDomains: [String], requiresApproval: Bool) {
        self.id = id
        self.roleKey = roleKey
        self.maxUses = maxUses
        self.uses = uses
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.allowedDomains = allowedDomains
        self.requiresApproval = requiresApproval
    }

    /// Whether the link can be used at `now`, or why not.
    public func state(now: Date) -> InviteLinkState {
        if revokedAt != nil { return .revoked }
        if let expiresAt, expiresAt <= now { return .expired }
        if let maxUses, uses >= maxUses { return .exhausted }
        return .usable
    }

    /// The refusal for a link that cannot be used (410, saying why plainly), or nil.
    public func refusal(now: Date) -> RosterError? {
        state(now: now).whyUnusable.map { RosterError(.linkUnusable, $0) }
    }

    /// Whether `email` (canonical) is in one of the allowed domains (any when none are set).
    public func allows(email: String) -> Bool {
        guard !allowedDomains.isEmpty else { return true }
        return DomainName.of(email: email).map(allowedDomains.contains) ?? false
    }
}

/// Whether an invite link can be used.
public enum InviteLinkState: String, Sendable, Equatable, Codable {
    case usable, expired, exhausted, revoked

    /// Why a link in this state lets nobody join, as people are told (the API's refusal and the join page); nil
    /// when it is usable.
    public var whyUnusable: String? {
        switch self {
        case .usable: nil
        case .revoked: "This invite link was turned off by the people who shared it. Ask them for a new one."
        case .expired: "This invite link has expired. Ask the people who shared it for a new one."
        case .exhausted: "This invite link has been used as many times as it allows. Ask the people who shared it for a new one."
        }
    }
}

/// The rules of creating invite links.
public enum InviteLinkRules {
    /// An `expires_at` as the API takes it: an ISO 8601 time with a zone (`2026-12-31T23:59:00Z`, fractional seconds
    /// allowed), on a day the calendar has (the parser alone would read 30 February as 2 March). Nil when it is not.
    public static func time(_ raw: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: raw) ?? ({
            formatter.formatOptions.insert(.withFractionalSeconds)
            return formatter.date(from: raw)
        }()) else { return nil }
        let day = raw.prefix(10).split(separator: "-").compactMap { Int($0) }
        guard day.count == 3,
              DateComponents(calendar: Calendar(identifier: .gregorian), year: day[0], month: day[1], day: day[2]).isValidDate else { return nil }
        return date
    }

    /// Allowed domains a link may list.
    public static let maximumDomains = 20
    /// The largest `max_uses`.
    public static let maximumUses = 100_000

    /// Refuses a link role that makes owners (ownership is given by a person, to someone named) or that `authority`
    /// may not grant.
    public static func requireRole(_ role: RoleDefinition, grantableBy authority: Authority) throws(RosterError) {
        guard !role.isOwner else {
            throw RosterError.validation([FieldIssue(field: "role", message: "an invite link cannot make owners; invite the person instead")])
        }
        try authority.requireMayGrant(role)
    }

    /// Refuses turning off a link that gives `role` unless `authority` may grant that role itself: an admin does not
    /// turn off the link an owner made for a role above the admin's (nil: a role no longer on the ladder).
    public static func requireMayRevoke(linkGiving role: RoleDefinition?, authority: Authority) throws(RosterError) {
        guard let role, !authority.outranks(role) else { return }
        throw RosterError(.roleEscalation, "You cannot turn off a link giving '\(role.key)': it is not ranked below your own role.")
    }

    /// Canonical allowed domains (lowercased, without a leading `@`), or `validation_failed`.
    public static func domains(_ raw: [String]) throws(RosterError) -> [String] {
        guard raw.count <= maximumDomains else {
            throw RosterError.validation([FieldIssue(field: "allowed_email_domains", message: "must list at most \(maximumDomains) domains")])
        }
        var result: [String] = []
        for entry in raw {
            guard let domain = DomainName.canonical(entry) else {
                throw RosterError.validation([FieldIssue(field: "allowed_email_domains", message: "'\(entry.prefix(100))' is not a domain such as school.edu (an internationalized domain in its ASCII form, xn--…)")])
            }
            if !result.contains(domain) { result.append(domain) }
        }
        return result
    }
}

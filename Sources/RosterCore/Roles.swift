import Foundation

/// The fixed permission catalogue (DESIGN §1). Roles hold subsets of it.
public enum Permission: String, CaseIterable, Codable, Sendable, Comparable {
    case scopeRead = "scope.read"
    case scopeManage = "scope.manage"
    case membersRead = "members.read"
    case membersInvite = "members.invite"
    case membersAddDirect = "members.add_direct"
    case membersRemove = "members.remove"
    case membersSetRole = "members.set_role"
    case requestsReview = "requests.review"
    case rolesManage = "roles.manage"
    case spacesCreate = "spaces.create"
    case importsRun = "imports.run"
    case auditRead = "audit.read"
    /// Webhook endpoints of the organization (owners; issue 15).
    case webhooksManage = "webhooks.manage"
    /// Verified email domains of the organization and their policies (owners; issue 16).
    case domainsManage = "domains.manage"
    /// Provisioning over SCIM (organization keys given to an identity provider; issue 16).
    case scim = "scim"

    public static func < (a: Permission, b: Permission) -> Bool { a.rawValue < b.rawValue }

    /// What the `scim` permission lets an organization's identity provider do through SCIM: provision and
    /// deprovision members (under the consent rule of `Lifecycle.provision`) and keep spaces as groups.
    public static let provisioning: Set<Permission> = [
        .scim, .scopeRead, .membersRead, .membersInvite, .membersAddDirect, .membersRemove, .membersSetRole, .spacesCreate, .scopeManage,
    ]
}

/// Which roster a role belongs to: the organization's own, or the ladder shared by its spaces.
public enum Ladder: String, Codable, Sendable, CaseIterable {
    case org, space
}

/// A role of one ladder: a key, a display name, a rank (higher outranks lower) and permissions.
public struct RoleDefinition: Codable, Sendable, Equatable, Hashable {
    public var key: String
    public var name: String
    public var rank: Int
    public var permissions: Set<Permission>

    public init(key: String, name: String, rank: Int, permissions: Set<Permission>) {
        self.key = key
        self.name = name
        self.rank = rank
        self.permissions = permissions
    }

    /// Whether this is the organization owner role, which may grant and act on any role.
    public var isOwner: Bool { key == DefaultRoles.ownerKey }
}

/// The roles seeded into every new organization (DESIGN §9).
public enum DefaultRoles {
    /// The org owner role's key; it cannot be changed or deleted.
    public static let ownerKey = "owner"
    /// The org admin role's key; org admins hold every space permission except `scope.manage`.
    public static let adminKey = "admin"

    public static let org: [RoleDefinition] = [
        RoleDefinition(key: ownerKey, name: "Owner", rank: 300, permissions: Set(Permission.allCases)),
        RoleDefinition(key: adminKey, name: "Admin", rank: 200, permissions: [
            .scopeRead, .membersRead, .membersInvite, .membersAddDirect, .membersRemove, .membersSetRole,
            .requestsReview, .spacesCreate, .importsRun, .auditRead,
        ]),
        RoleDefinition(key: "member", name: "Member", rank: 100, permissions: [.scopeRead, .membersRead]),
    ]

    public static let space: [RoleDefinition] = [
        RoleDefinition(key: "manager", name: "Manager", rank: 300, permissions: [
            .scopeRead, .scopeManage, .membersRead, .membersInvite, .membersAddDirect, .membersRemove, .membersSetRole,
            .requestsReview, .importsRun, .auditRead,
        ]),
        RoleDefinition(key: "editor", name: "Editor", rank: 200, permissions: [.scopeRead, .membersRead]),
        RoleDefinition(key: "viewer", name: "Viewer", rank: 100, permissions: [.scopeRead]),
    ]

    public static func roles(for ladder: Ladder) -> [RoleDefinition] { ladder == .org ? org : space }
}

/// The roles of one ladder of one organization.
public struct RoleLadder: Sendable, Equatable {
    public var ladder: Ladder
    /// Highest rank first.
    public private(set) var roles: [RoleDefinition]

    public init(_ ladder: Ladder, roles: [RoleDefinition]) {
        self.ladder = ladder
        self.roles = roles.sorted { $0.rank > $1.rank }
    }

    /// The role with `key`, or nil.
    public func role(_ key: String) -> RoleDefinition? { roles.first { $0.key == key } }

    /// The role with `key`, or 422 `unknown_role`.
    public func require(_ key: String) throws(RosterError) -> RoleDefinition {
        guard let role = role(key) else {
            throw RosterError(.unknownRole, "'\(key)' is not a role of this \(ladder == .org ? "organization" : "space") ladder. Roles: \(roles.map(\.key).joined(separator: ", ")).")
        }
        return role
    }

    /// The lowest-ranked role: the default for invitations, requests, direct adds and imports.
    public var lowest: RoleDefinition? { roles.last }

    /// The role named by `key`, or the default when `key` is nil.
    public func roleOrDefault(_ key: String?) throws(RosterError) -> RoleDefinition {
        if let key { return try require(key) }
        guard let lowest else { throw RosterError(.unknownRole, "This ladder has no roles.") }
        return lowest
    }
}

/// Validation of custom role definitions (`PUT /v1/orgs/{org}/roles/{ladder}/{key}`).
public enum RoleRules {
    /// Checks a role's key, name and rank against its ladder; owner stays the unique top of the org ladder.
    public static func validate(_ role: RoleDefinition, in ladder: RoleLadder) throws(RosterError) {
        var issues: [FieldIssue] = []
        let keyPattern = role.key.range(of: "^[a-z][a-z0-9_]{0,39}$", options: .regularExpression) != nil
        if !keyPattern { issues.append(FieldIssue(field: "key", message: "must be 1–40 characters of a–z, 0–9 and _, starting with a letter")) }
        if role.name.trimmingCharacters(in: .whitespaces).isEmpty { issues.append(FieldIssue(field: "name", message: "must not be empty")) }
        if role.rank < 1 || role.rank > 100_000 { issues.append(FieldIssue(field: "rank", message: "must be from 1 to 100000")) }
        if ladder.ladder == .org, let owner = ladder.role(DefaultRoles.ownerKey), role.key != owner.key, role.rank >= owner.rank {
            issues.append(FieldIssue(field: "rank", message: "must be below the owner's rank (\(owner.rank))"))
        }
        if let clash = ladder.roles.first(where: { $0.rank == role.rank && $0.key != role.key }) {
            issues.append(FieldIssue(field: "rank", message: "is already the rank of '\(clash.key)'"))
        }
        if !issues.isEmpty { throw RosterError.validation(issues) }
    }

    /// Invariant 5 for role definitions: except owners, nobody defines, changes or deletes a role of their own
    /// ladder ranked at or above their own (their own included), nor grants permissions they do not hold.
    public static func requireMayDefine(_ role: RoleDefinition, replacing existing: RoleDefinition?, ladder: Ladder, authority: Authority) throws(RosterError) {
        try authority.require(.rolesManage)
        if authority.isOwner { return }
        if !role.permissions.isSubset(of: authority.permissions) {
            throw RosterError(.roleEscalation, "A role cannot hold permissions you do not hold yourself.")
        }
        guard ladder == .org else { return }
        if role.rank >= authority.rank || (existing.map { $0.rank >= authority.rank } ?? false) || role.key == authority.roleKey {
            throw RosterError(.roleEscalation, "You can only define roles ranked below your own.")
        }
    }
}

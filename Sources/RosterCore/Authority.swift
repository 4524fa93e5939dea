import Foundation

/// What an actor may do on one scope: its effective permissions and how far up the scope's ladder it reaches.
public struct Authority: Sendable, Equatable {
    /// Effective permissions on the scope.
    public var permissions: Set<Permission>
    /// The actor's rank on the scope's ladder; `Int.max` when it stands above the whole ladder.
    public var rank: Int
    /// Owners (and platform administration) may grant, change and remove any role, including their own peers'.
    public var isOwner: Bool
    /// The actor's own active role key on this scope, when it has one.
    public var roleKey: String?

    public init(permissions: Set<Permission>, rank: Int, isOwner: Bool, roleKey: String?) {
        self.permissions = permissions
        self.rank = rank
        self.isOwner = isOwner
        self.roleKey = roleKey
    }

    /// No relation to the scope at all.
    public static let none = Authority(permissions: [], rank: Int.min, isOwner: false, roleKey: nil)

    /// Platform administrators and API keys: every management permission, above every role.
    public static let platform = Authority(permissions: Set(Permission.allCases), rank: Int.max, isOwner: true, roleKey: nil)

    /// The authority on an organization's own roster from the actor's *active* org role.
    public static func onOrganization(role: RoleDefinition?) -> Authority {
        guard let role else { return .none }
        // Owners hold every permission, including those added to the catalogue after their role was stored.
        return Authority(permissions: role.isOwner ? Set(Permission.allCases) : role.permissions, rank: role.rank, isOwner: role.isOwner, roleKey: role.key)
    }

    /// An organization API key on its organization's own roster: exactly its permissions, ranked just below owners (it
    /// may grant any role but owner). A key limited to some spaces has nothing here (the organization is not found).
    public static func organizationKey(permissions: Set<Permission>, limitedToSpaces: Bool, ownerRank: Int) -> Authority {
        limitedToSpaces ? .none : Authority(permissions: permissions, rank: ownerRank - 1, isOwner: false, roleKey: nil)
    }

    /// An organization API key on a space it may act on: exactly its permissions, above every space role.
    public static func organizationKeyOnSpace(permissions: Set<Permission>) -> Authority {
        Authority(permissions: permissions, rank: Int.max, isOwner: false, roleKey: nil)
    }

    /// The authority on a space: org owners hold everything, org admins everything but `scope.manage`
    /// (both above every space role); others act through their active space role.
    public static func onSpace(orgRole: RoleDefinition?, spaceRole: RoleDefinition?) -> Authority {
        if let orgRole, orgRole.isOwner {
            return Authority(permissions: Set(Permission.allCases), rank: Int.max, isOwner: true, roleKey: spaceRole?.key)
        }
        if let orgRole, orgRole.key == DefaultRoles.adminKey {
            var permissions = Set(Permission.allCases)
            permissions.remove(.scopeManage)
            permissions.remove(.rolesManage)
            permissions.remove(.webhooksManage)
            permissions.remove(.domainsManage)
            permissions.remove(.scim)
            return Authority(permissions: permissions, rank: Int.max, isOwner: false, roleKey: spaceRole?.key)
        }
        guard let spaceRole else { return .none }
        return Authority(permissions: spaceRole.permissions, rank: spaceRole.rank, isOwner: false, roleKey: spaceRole.key)
    }

    /// Whether the actor may see the scope at all.
    public var canSee: Bool { permissions.contains(.scopeRead) }

    /// Refuses a missing permission: 404 when the actor cannot even see the scope, 403 `forbidden` otherwise.
    public func require(_ permission: Permission) throws(RosterError) {
        guard canSee else { throw RosterError.notFound }
        guard permissions.contains(permission) else {
            throw RosterError(.forbidden, "Your role does not hold '\(permission.rawValue)' here.")
        }
    }

    /// Whether the actor reaches above `role`: owners reach everything; others only strictly lower ranks.
    public func outranks(_ role: RoleDefinition) -> Bool { isOwner || role.rank < rank }

    /// Refuses granting `role` (invite, add, approve, change to) unless the actor outranks it.
    public func requireMayGrant(_ role: RoleDefinition) throws(RosterError) {
        guard outranks(role) else {
            throw RosterError(.roleEscalation, "You cannot grant '\(role.key)': it is not ranked below your own role.")
        }
    }

    /// Refuses acting on a member holding `role` (change, remove) unless the actor outranks it.
    public func requireMayActOn(_ role: RoleDefinition) throws(RosterError) {
        guard outranks(role) else {
            throw RosterError(.roleEscalation, "You cannot change or remove a member whose role '\(role.key)' is not ranked below yours.")
        }
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// Everything a roster route needs to decide: the organization, the scope, its ladder and the caller's authority.
struct ScopeContext: Sendable {
    var org: OrganizationModel
    let scope: ScopeRef
    var ladder: RoleLadder
    var authority: Authority
    let actor: AuditActor
    /// The calling person, when the caller is a person (not an API key).
    let account: AccountModel?
    /// A name for the caller in emails ("Ada Lovelace", or the API key's name).
    let actorName: String
    var settings: ScopeSettings
    /// Display name of the scope's space, for emails (nil for org rosters).
    var spaceName: String?
    /// The member attributes the scope defines (spaces only; organizations define none).
    var attributeDefinitions: [AttributeDefinition] = []
    /// Whether the caller is an active member of the organization (spaces take join requests only from them).
    var isOrgMember = false
    /// The caller's reach when it is an organization API key.
    var organizationKey: OrganizationKeyScope?
    /// Whether the organization verified the email domain `locked(on:emailDomain:)` was asked about.
    var emailDomainVerified: Bool?
}

extension ScopeContext {
    /// The API path of this roster (`/v1/orgs/{id}` or `/v1/spaces/{id}`).
    var path: String {
        scope.spaceID.map { "/v1/spaces/\($0)" } ?? "/v1/orgs/\(scope.orgID)"
    }

    /// Takes the organization's write lock and re-reads under it everything a decision rests on: the organization
    /// and the space (404 when deleted meanwhile), their settings and attribute definitions, the ladder and the
    /// caller's authority. So a decision never rests on a policy, a scope or a role that a concurrent, already
    /// committed change altered (e.g. two owners removing each other, an add policy switched back to consent).
    /// With `emailDomain`, it reads whether the organization verified it too (`emailDomainVerified`).
    func locked(on db: any Database, emailDomain: String? = nil) async throws -> ScopeContext {
        try await reading(MembershipStore(db).lockedOrganization(scope.orgID, ladder: scope.ladder, domain: emailDomain), on: db)
    }

    /// `locked(on:emailDomain:)` once the organization is locked: this context as of what the lock read.
    func reading(_ locked: LockedOrganization, on db: any Database) async throws -> ScopeContext {
        let store = MembershipStore(db)
        let org = locked.org
        var copy = self
        copy.org = org
        if let spaceID = scope.spaceID {
            guard let space = try await SpaceModel.query(on: db).filter(\.$id == spaceID).filter(\.$orgID == org.requireID())
                .filter(\.$deletedAt == nil).first() else { throw RosterError.notFound }
            copy.settings = space.settings(in: org)
            copy.attributeDefinitions = space.attributeDefinitions
            copy.spaceName = space.name
        } else {
            copy.settings = org.settings
        }
        copy.ladder = locked.ladder
        copy.emailDomainVerified = locked.domainVerified
        if account == nil, let key = organizationKey, key.spaceIDs == nil, scope.spaceID == nil {
            // An organization key ranks just below the owners of the ladder read here.
            copy.authority.rank = (copy.ladder.role(DefaultRoles.ownerKey)?.rank ?? Int.max) - 1
        }
        guard let account, !account.isPlatformAdmin, let accountID = account.id else { return copy }
        let orgKey = try await store.activeRoleKey(accountID: accountID, scopeID: scope.orgID)
        if scope.spaceID == nil {
            copy.authority = .onOrganization(role: orgKey.flatMap(copy.ladder.role))
        } else {
            let orgLadder = try await store.ladder(orgID: scope.orgID, .org)
            let spaceKey = try await store.activeRoleKey(accountID: accountID, scopeID: scope.scopeID)
            copy.authority = .onSpace(orgRole: orgKey.flatMap(orgLadder.role), spaceRole: spaceKey.flatMap(copy.ladder.role))
            copy.isOrgMember = orgKey != nil
        }
        return copy
    }

    /// The organization's `ladder`: the one read with the lock when it is the scope's (`locked(on:)`), else read now.
    func ladder(_ ladder: Ladder, on db: any Database) async throws -> RoleLadder {
        ladder == scope.ladder ? self.ladder : try await MembershipStore(db).ladder(orgID: scope.orgID, ladder)
    }

    /// The context of an organization key (not limited to spaces) on its organization's own roster before anything
    /// is read: the organization, its settings and its ladder are placeholders until `locked(on:)` reads them under
    /// the organization's lock. Only for doors that decide through `locked(on:)` and read nothing of it before.
    static func organizationKey(_ key: OrganizationKeyScope, actor: AuditActor, actorName: String) -> ScopeContext {
        let org = OrganizationModel()
        org.id = key.orgID
        var context = ScopeContext(org: org, scope: ScopeRef(orgID: key.orgID), ladder: RoleLadder(.org, roles: []),
                                   authority: .organizationKey(permissions: key.permissions, limitedToSpaces: false, ownerRank: Int.max),
                                   actor: actor, account: nil, actorName: actorName, settings: ScopeSettings(), spaceName: nil)
        context.organizationKey = key
        return context
    }

    /// Whether the caller acts as the platform: a platform API key, or a platform administrator.
    var actsAsPlatform: Bool { account.map(\.isPlatformAdmin) ?? (organizationKey == nil) }

    /// The acting person, when the caller is one.
    var person: ActingPerson? {
        account.flatMap { account in
            account.id.map { ActingPerson(id: $0, email: account.email, name: account.name, emailVerified: account.emailVerifiedAt != nil) }
        }
    }

    /// The facts every lifecycle decision on this scope starts from: the scope, the actor and its authority.
    func facts(limits: RosterLimits) -> ScopeFacts {
        var facts = ScopeFacts(scope: scope, actor: actor, person: person, actorName: actorName, authority: authority, ladder: ladder,
                               settings: settings, orgName: org.name, orgSlug: org.slug, spaceName: spaceName)
        facts.attributeDefinitions = attributeDefinitions
        facts.isOrgMember = isOrgMember
        facts.limits = limits
        facts.invitationBudget = InvitationBudget(perHour: invitationsPerHour(limits))
        return facts
    }

    /// The organization's invitation emails per hour: its own budget, or the server's.
    func invitationsPerHour(_ limits: RosterLimits) -> Int { org.invitesPerHour ?? limits.invitationsPerHour }
}

extension Request {
    /// The organization named by the `org` path parameter (id or slug), not deleted; 404 otherwise.
    func organization() async throws -> OrganizationModel {
        guard let org = try await Directory(db).organization(ref: parameters.get("org") ?? "") else { throw RosterError.notFound }
        return org
    }

    /// The caller as the audit log and emails name it.
    func actorIdentity() throws -> (AuditActor, AccountModel?, String) {
        switch principal {
        case .account(let account, _)?: return (.account(try account.requireID()), account, account.name)
        case .apiKey(let id, let name, _)?: return (.apiKey(id), nil, name)
        case nil: throw RosterError(.unauthenticated, "Authentication required.")
        }
    }

    /// The context of the organization roster named by the path.
    func orgScope() async throws -> ScopeContext {
        let org = try await organization()
        let orgID = try org.requireID()
        let (actor, account, actorName) = try actorIdentity()
        let store = MembershipStore(db)
        let ladder = try await store.ladder(orgID: orgID, .org)
        var authority: Authority
        let organizationKey = principal?.organizationKey
        if let account, !account.isPlatformAdmin {
            let key = try await store.activeRoleKey(accountID: try account.requireID(), scopeID: orgID)
            authority = .onOrganization(role: key.flatMap(ladder.role))
        } else if let organizationKey {
            // An organization key exists nowhere but in its organization.
            guard organizationKey.orgID == orgID else { throw RosterError.notFound }
            authority = .organizationKey(permissions: organizationKey.permissions, limitedToSpaces: organizationKey.spaceIDs != nil,
                                         ownerRank: ladder.role(DefaultRoles.ownerKey)?.rank ?? Int.max)
        } else {
            authority = .platform
        }
        var context = ScopeContext(org: org, scope: ScopeRef(orgID: orgID), ladder: ladder, authority: authority, actor: actor,
                                   account: account, actorName: actorName, settings: org.settings, spaceName: nil)
        context.organizationKey = organizationKey
        return context
    }

    /// The space named by the `space` path parameter (its id), in an organization that is not deleted; 404 otherwise.
    func space() async throws -> (SpaceModel, OrganizationModel) {
        guard let raw = parameters.get("space"), let id = UUID(uuidString: raw), let found = try await Directory(db).space(id: id) else {
            throw RosterError.notFound
        }
        return found
    }

    /// The context of the space roster named by the path: the org's space ladder, and the caller's authority from
    /// their org role (owners and admins hold the space implicitly) and their space role.
    func spaceScope() async throws -> ScopeContext {
        let (space, org) = try await space()
        let orgID = try org.requireID(), spaceID = try space.requireID()
        let (actor, account, actorName) = try actorIdentity()
        let store = MembershipStore(db)
        let ladder = try await store.ladder(orgID: orgID, .space)
        var authority = Authority.platform
        var isOrgMember = false
        let organizationKey = principal?.organizationKey
        if let organizationKey, account == nil {
            guard organizationKey.orgID == orgID, organizationKey.spaceIDs?.contains(spaceID) ?? true else { throw RosterError.notFound }
            authority = .organizationKeyOnSpace(permissions: organizationKey.permissions)
        }
        if let account, !account.isPlatformAdmin {
            let accountID = try account.requireID()
            let orgLadder = try await store.ladder(orgID: orgID, .org)
            let orgKey = try await store.activeRoleKey(accountID: accountID, scopeID: orgID)
            let spaceKey = try await store.activeRoleKey(accountID: accountID, scopeID: spaceID)
            authority = .onSpace(orgRole: orgKey.flatMap(orgLadder.role), spaceRole: spaceKey.flatMap(ladder.role))
            isOrgMember = orgKey != nil
        }
        var context = ScopeContext(org: org, scope: ScopeRef(orgID: orgID, spaceID: spaceID), ladder: ladder, authority: authority,
                                   actor: actor, account: account, actorName: actorName, settings: space.settings(in: org), spaceName: space.name)
        context.attributeDefinitions = space.attributeDefinitions
        context.isOrgMember = isOrgMember
        context.organizationKey = organizationKey
        return context
    }

    /// A UUID path parameter; a malformed one is the same 404 as an unknown one.
    func uuidParameter(_ name: String) throws -> UUID {
        guard let raw = parameters.get(name), let id = UUID(uuidString: raw) else { throw RosterError.notFound }
        return id
    }
}

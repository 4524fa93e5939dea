import Vapor
import Fluent
import RosterCore
import RosterStore

/// `/v1/orgs`: organizations, their roles, audit log and leaving.
struct OrganizationsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let orgs = routes.grouped("v1", "orgs").grouped(BearerAuthenticator())
        orgs.post(use: create)
        orgs.get(use: list)
        let org = orgs.grouped(":org")
        org.get(use: show)
        org.patch(use: update)
        org.delete(use: delete)
        org.get("roles", use: roles)
        org.put("roles", ":ladder", ":key", use: putRole)
        org.delete("roles", ":ladder", ":key", use: deleteRole)
        org.get("audit", use: audit)
        org.post("leave", use: leave)
        try org.register(collection: RosterController(scope: { try await $0.orgScope() }))
    }

    @Sendable func create(req: Request) async throws -> Response {
        guard case .account(let account, _)? = req.principal else {
            throw RosterError(.forbidden, "Organizations are created by people: their creator becomes the owner.")
        }
        let body = try req.decodeBody(CreateOrganizationRequest.self)
        var issues: [FieldIssue] = []
        var name = ""
        switch OrganizationRules.name(body.name) {
        case .success(let valid): name = valid
        case .failure(let issue): issues.append(issue)
        }
        let slug = body.slug.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let slug, !OrganizationRules.isValidSlug(slug) {
            issues.append(FieldIssue(field: "slug", message: "must be 2–48 characters of a–z, 0–9 and single inner hyphens"))
        }
        let description = (body.description ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if description.count > 2000 { issues.append(FieldIssue(field: "description", message: "must be at most 2000 characters")) }
        let settings = (body.settings ?? SettingsPatch()).applied(to: ScopeSettings())
        issues += settings.issues()
        guard issues.isEmpty else { throw RosterError.validation(issues) }
        try AddPolicy.requireMayChange(from: ScopeSettings().addPolicy, to: settings.addPolicy, byPlatform: account.isPlatformAdmin)
        let org = try await OrganizationLifecycle.create(name: name, slug: slug, description: description, settings: settings,
                                                         creator: account, requestID: req.id, on: req.db)
        return try jsonResponse(OrganizationResponse(org, role: DefaultRoles.ownerKey), status: .created)
    }

    struct ListQuery: Content { var cursor: String?; var limit: Int? }

    @Sendable func list(req: Request) async throws -> Page<OrganizationResponse> {
        let query = try req.query.decode(ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw) }
        var memberAccountID: UUID?
        if case .account(let account, _)? = req.principal, !account.isPlatformAdmin { memberAccountID = try account.requireID() }
        if let key = req.principal?.organizationKey {
            // An organization key lists its own organization.
            let org = try await Directory(req.db).organization(id: key.orgID)
            return Page(items: org.map { [OrganizationResponse($0, role: nil)] } ?? [], nextCursor: nil)
        }
        let (items, roles, next) = try await Directory(req.db).organizations(memberAccountID: memberAccountID, after: cursor, limit: limit)
        return Page(items: items.map { OrganizationResponse($0, role: $0.id.flatMap { roles[$0] }) }, nextCursor: next?.encoded)
    }

    @Sendable func show(req: Request) async throws -> OrganizationResponse {
        let context = try await req.orgScope()
        try context.authority.require(.scopeRead)
        return OrganizationResponse(context.org, role: context.authority.roleKey)
    }

    @Sendable func update(req: Request) async throws -> OrganizationResponse {
        let context = try await req.orgScope()
        let org = try await OrganizationUseCases(req: req, context: context).update(req.decodeBody(UpdateOrganizationRequest.self))
        return OrganizationResponse(org, role: context.authority.roleKey)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        let context = try await req.orgScope()
        try context.authority.require(.scopeManage)
        try await MembershipUseCases(req: req, context: context).deleteOrganization()
        return .noContent
    }

    @Sendable func roles(req: Request) async throws -> RolesResponse {
        let context = try await req.orgScope()
        try context.authority.require(.scopeRead)
        let space = try await OrganizationUseCases(req: req, context: context).spaceLadder()
        return RolesResponse(orgRoles: context.ladder.roles.map(RoleResponse.init), spaceRoles: space.roles.map(RoleResponse.init))
    }

    private func ladderParameter(_ req: Request) throws -> Ladder {
        guard let raw = req.parameters.get("ladder"), let ladder = Ladder(rawValue: raw) else { throw RosterError.notFound }
        return ladder
    }

    @Sendable func putRole(req: Request) async throws -> Response {
        let context = try await req.orgScope()
        try context.authority.require(.rolesManage)
        let ladderName = try ladderParameter(req)
        let key = req.parameters.get("key") ?? ""
        let body = try req.decodeBody(PutRoleRequest.self)
        if ladderName == .org && key == DefaultRoles.ownerKey {
            throw RosterError(.forbidden, "The owner role cannot be changed.")
        }
        var permissions = Set<Permission>()
        var issues: [FieldIssue] = []
        for raw in body.permissions {
            if let permission = Permission(rawValue: raw) { permissions.insert(permission) } else {
                issues.append(FieldIssue(field: "permissions", message: "'\(raw)' is not a permission; known: \(Permission.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if !issues.isEmpty { throw RosterError.validation(issues) }
        let role = RoleDefinition(key: key, name: body.name.trimmingCharacters(in: .whitespaces), rank: body.rank, permissions: permissions)
        let created = try await OrganizationUseCases(req: req, context: context).saveRole(role, ladder: ladderName)
        return try jsonResponse(RoleResponse(role), status: created ? .created : .ok)
    }

    @Sendable func deleteRole(req: Request) async throws -> HTTPStatus {
        let context = try await req.orgScope()
        try context.authority.require(.rolesManage)
        let ladderName = try ladderParameter(req)
        let key = req.parameters.get("key") ?? ""
        if ladderName == .org && key == DefaultRoles.ownerKey { throw RosterError(.forbidden, "The owner role cannot be deleted.") }
        try await OrganizationUseCases(req: req, context: context).deleteRole(key, ladder: ladderName)
        return .noContent
    }

    @Sendable func audit(req: Request) async throws -> Page<AuditEventResponse> {
        try await Self.audit(req, context: req.orgScope())
    }

    /// A page of the scope's audit log (an organization's: every event, its spaces' too; a space's: its own).
    static func audit(_ req: Request, context: ScopeContext) async throws -> Page<AuditEventResponse> {
        try context.authority.require(.auditRead)
        let query = try req.query.decode(ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw) }
        let (items, next) = try await Directory(req.db).auditEvents(orgID: context.scope.orgID, spaceID: context.scope.spaceID, before: cursor,
                                                                    limit: limit)
        return Page(items: items.map(AuditEventResponse.init), nextCursor: next?.encoded)
    }

    @Sendable func leave(req: Request) async throws -> HTTPStatus {
        let context = try await req.orgScope()
        try await MembershipUseCases(req: req, context: context).leave()
        return .noContent
    }
}

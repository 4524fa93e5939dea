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
        let org = try await OrganizationLifecycle.create(name: name, slug: slug, description: description, settings: settings,
                                                         creator: account, requestID: req.id, on: req.db)
        return try jsonResponse(OrganizationResponse(org, role: DefaultRoles.ownerKey), status: .created)
    }

    struct ListQuery: Content { var cursor: String?; var limit: Int? }

    @Sendable func list(req: Request) async throws -> Page<OrganizationResponse> {
        let query = try req.query.decode(ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw) }
        var orgs = OrganizationModel.query(on: req.db).filter(\.$deletedAt == nil)
        var roles: [UUID: String] = [:]
        if case .account(let account, _)? = req.principal, !account.isPlatformAdmin {
            let rows = try await MembershipModel.query(on: req.db)
                .filter(\.$accountID == account.requireID())
                .filter(\.$status == MembershipStatus.active.rawValue)
                .filter(\.$spaceID == nil)
                .all()
            for row in rows { roles[row.orgID] = row.roleKey }
            orgs = orgs.filter(\.$id ~~ Array(roles.keys))
        }
        if let cursor {
            orgs = orgs.group(.or) { group in
                group.filter(\.$slug > cursor.key)
                group.group(.and) { $0.filter(\.$slug == cursor.key).filter(\.$id > cursor.id) }
            }
        }
        let page = try await orgs.sort(\.$slug).sort(\.$id).limit(limit + 1).all()
        let items = page.prefix(limit)
        let next = page.count > limit ? items.last.map { PageCursor(key: $0.slug, id: $0.id!).encoded } : nil
        return Page(items: items.map { OrganizationResponse($0, role: roles[$0.id!]) }, nextCursor: next)
    }

    @Sendable func show(req: Request) async throws -> OrganizationResponse {
        let context = try await req.orgScope()
        try context.authority.require(.scopeRead)
        return OrganizationResponse(context.org, role: context.authority.roleKey)
    }

    @Sendable func update(req: Request) async throws -> OrganizationResponse {
        let context = try await req.orgScope()
        let org = try await Self.update(req.decodeBody(UpdateOrganizationRequest.self), context: context, on: req)
        return OrganizationResponse(org, role: context.authority.roleKey)
    }

    /// Renames, re-slugs or changes the settings of the context's organization (the API and the settings page).
    static func update(_ body: UpdateOrganizationRequest, context: ScopeContext, on req: Request) async throws -> OrganizationModel {
        try context.authority.require(.scopeManage)
        let org = context.org
        var issues: [FieldIssue] = []
        let before = ["name": org.name, "slug": org.slug, "settings": String(describing: org.settings)]
        if let raw = body.name {
            switch OrganizationRules.name(raw) {
            case .success(let name): org.name = name
            case .failure(let issue): issues.append(issue)
            }
        }
        if let raw = body.slug {
            let slug = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if OrganizationRules.isValidSlug(slug) { org.slug = slug } else {
                issues.append(FieldIssue(field: "slug", message: "must be 2–48 characters of a–z, 0–9 and single inner hyphens"))
            }
        }
        if let description = body.description {
            if description.count > 2000 { issues.append(FieldIssue(field: "description", message: "must be at most 2000 characters")) }
            org.description = description.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let patch = body.settings {
            let settings = patch.applied(to: org.settings)
            issues += settings.issues()
            org.settings = settings
        }
        guard issues.isEmpty else { throw RosterError.validation(issues) }
        let after = ["name": org.name, "slug": org.slug, "settings": String(describing: org.settings)]
        try await req.db.writeTransaction { db in
            try await context.locked(on: db).authority.require(.scopeManage)
            try await org.save(on: db)
            try await AuditLog(db).record(action: "organization.updated", actor: context.actor, orgID: context.scope.orgID,
                                          before: before, after: after, requestID: req.id, at: Date())
        }
        return org
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
        let space = try await MembershipStore(req.db).ladder(orgID: context.scope.orgID, .space)
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
        let orgID = context.scope.orgID
        let created = try await req.db.writeTransaction { db -> Bool in
            let store = MembershipStore(db)
            let authority = try await context.locked(on: db).authority
            let ladder = try await store.ladder(orgID: orgID, ladderName)
            try RoleRules.validate(role, in: ladder)
            try RoleRules.requireMayDefine(role, replacing: ladder.role(key), ladder: ladderName, authority: authority)
            let existing = try await RoleModel.query(on: db).filter(\.$orgID == orgID).filter(\.$ladder == ladderName.rawValue).filter(\.$key == key).first()
            let row = existing ?? RoleModel(orgID: orgID, ladder: ladderName, role: role)
            let before = existing.map { ["name": $0.name, "rank": String($0.rank), "permissions": $0.permissions] }
            row.name = role.name
            row.rank = role.rank
            row.permissions = role.permissions.sorted().map(\.rawValue).joined(separator: ",")
            try await row.save(on: db)
            try await AuditLog(db).record(action: "role.saved", actor: context.actor, orgID: orgID, before: before,
                                          after: ["ladder": ladderName.rawValue, "key": key, "name": row.name, "rank": String(row.rank), "permissions": row.permissions],
                                          requestID: req.id, at: Date())
            return existing == nil
        }
        return try jsonResponse(RoleResponse(role), status: created ? .created : .ok)
    }

    @Sendable func deleteRole(req: Request) async throws -> HTTPStatus {
        let context = try await req.orgScope()
        try context.authority.require(.rolesManage)
        let ladderName = try ladderParameter(req)
        let key = req.parameters.get("key") ?? ""
        if ladderName == .org && key == DefaultRoles.ownerKey { throw RosterError(.forbidden, "The owner role cannot be deleted.") }
        let orgID = context.scope.orgID
        try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let authority = try await context.locked(on: db).authority
            let ladder = try await store.ladder(orgID: orgID, ladderName)
            let existing = try ladder.require(key)
            try RoleRules.requireMayDefine(existing, replacing: existing, ladder: ladderName, authority: authority)
            if ladder.roles.count <= 1 { throw RosterError(.conflict, "A ladder keeps at least one role.") }
            // By roster (the organization's own, or each of its spaces'), which the scope indexes answer.
            let scopes = ladderName == .org ? [orgID] : try await SpaceModel.query(on: db).filter(\.$orgID == orgID).all(\.$id)
            let count = try await MembershipModel.query(on: db).filter(\.$scopeID ~~ scopes).filter(\.$roleKey == key)
                .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).count()
            if count > 0 { throw RosterError(.roleInUse, "\(count) live membership(s) hold '\(key)'; give them another role first.") }
            try await RoleModel.query(on: db).filter(\.$orgID == orgID).filter(\.$ladder == ladderName.rawValue).filter(\.$key == key).delete()
            try await AuditLog(db).record(action: "role.deleted", actor: context.actor, orgID: orgID, before: ["ladder": ladderName.rawValue, "key": key],
                                          after: nil, requestID: req.id, at: Date())
        }
        return .noContent
    }

    @Sendable func audit(req: Request) async throws -> Page<AuditEventResponse> {
        let context = try await req.orgScope()
        try context.authority.require(.auditRead)
        let query = try req.query.decode(ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw) }
        var events = AuditEventModel.query(on: req.db).filter(\.$orgID == context.scope.orgID)
        // Event ids are time-ordered (UUIDv7): newest first is id descending.
        if let cursor { events = events.filter(\.$id < cursor.id) }
        let page = try await events.sort(\.$id, .descending).limit(limit + 1).all()
        let items = page.prefix(limit)
        let next = page.count > limit ? items.last.map { PageCursor(key: "", id: $0.id!).encoded } : nil
        return Page(items: items.map(AuditEventResponse.init), nextCursor: next)
    }

    @Sendable func leave(req: Request) async throws -> HTTPStatus {
        let context = try await req.orgScope()
        try await MembershipUseCases(req: req, context: context).leave()
        return .noContent
    }
}

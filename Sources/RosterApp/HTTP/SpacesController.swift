import Vapor
import Fluent
import RosterCore
import RosterStore

/// Spaces: `POST|GET /v1/orgs/{org}/spaces`, `GET|PATCH|DELETE /v1/spaces/{space}`, and every roster route
/// under `/v1/spaces/{space}` (the same `RosterController` as organizations).
struct SpacesController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let v1 = routes.grouped("v1").grouped(BearerAuthenticator())
        v1.post("orgs", ":org", "spaces", use: create)
        v1.get("orgs", ":org", "spaces", use: list)
        let space = v1.grouped("spaces", ":space")
        space.get(use: show)
        space.patch(use: update)
        space.delete(use: delete)
        space.post("leave", use: leave)
        try space.register(collection: RosterController(scope: { try await $0.spaceScope() }))
    }

    /// Validates and applies a request to a space (new or existing); every problem at once.
    private func apply(_ body: SpaceRequest, to space: SpaceModel, creating: Bool) throws {
        var issues: [FieldIssue] = []
        if let raw = body.name ?? (creating ? "" : nil) {
            switch OrganizationRules.name(raw) {
            case .success(let name): space.name = name
            case .failure(let issue): issues.append(issue)
            }
        }
        if let raw = body.slug {
            let slug = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if OrganizationRules.isValidSlug(slug) { space.slug = slug } else {
                issues.append(FieldIssue(field: "slug", message: "must be 2–48 characters of a–z, 0–9 and single inner hyphens"))
            }
        } else if creating {
            space.slug = OrganizationRules.slug(from: body.name ?? "")
        }
        if let kind = body.kind?.trimmingCharacters(in: .whitespaces) {
            if kind.isEmpty || kind.count > 40 { issues.append(FieldIssue(field: "kind", message: "must be 1–40 characters")) } else { space.kind = kind }
        } else if creating {
            space.kind = "space"
        }
        if creating {
            space.joinPolicy = JoinPolicy.closed.rawValue
            space.addPolicy = AddPolicy.consent.rawValue
            space.attributes = "[]"
        }
        if let settings = body.settings {
            if let join = settings.joinPolicy { space.joinPolicy = join.rawValue }
            if let add = settings.addPolicy { space.addPolicy = add.rawValue }
            if let seats = settings.seatLimit {
                if let seats, seats < 1 || seats > 10_000_000 {
                    issues.append(FieldIssue(field: "settings.seat_limit", message: "must be from 1 to 10000000, or null for no limit"))
                } else { space.seatLimit = seats }
            }
        }
        if let definitions = body.attributes {
            let problems = AttributeDefinition.issues(definitions)
            if problems.isEmpty { space.attributeDefinitions = definitions } else { issues += problems }
        }
        if !issues.isEmpty { throw RosterError.validation(issues) }
    }

    @Sendable func create(req: Request) async throws -> Response {
        let space = try await Self.create(req.decodeBody(SpaceRequest.self), context: req.orgScope(), on: req)
        return try jsonResponse(SpaceResponse(space), status: .created)
    }

    /// Creates a space in the context's organization (the API and the spaces page).
    static func create(_ body: SpaceRequest, context: ScopeContext, on req: Request) async throws -> SpaceModel {
        try context.authority.require(.spacesCreate)
        let space = SpaceModel()
        space.orgID = context.scope.orgID
        try SpacesController().apply(body, to: space, creating: true)
        try await req.db.writeTransaction { db in
            try await context.locked(on: db).authority.require(.spacesCreate)
            if body.slug == nil {
                // A generated slug takes the first free suffix within the organization.
                let base = space.slug
                var n = 1
                while try await SpaceModel.query(on: db).filter(\.$orgID == space.orgID).filter(\.$slug == space.slug).filter(\.$deletedAt == nil).count() > 0 {
                    n += 1
                    space.slug = "\(base.prefix(44))-\(n)"
                }
            }
            try await space.create(on: db)
            try await AuditLog(db).record(action: "space.created", actor: context.actor, orgID: context.scope.orgID, spaceID: space.id,
                                          before: nil, after: ["name": space.name, "slug": space.slug, "kind": space.kind], requestID: req.id, at: Date())
        }
        return space
    }

    struct ListQuery: Content { var cursor: String?; var limit: Int? }

    @Sendable func list(req: Request) async throws -> Page<SpaceResponse> {
        let context = try await req.orgScope()
        try context.authority.require(.scopeRead)
        let query = try req.query.decode(ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        var spaces = SpaceModel.query(on: req.db).filter(\.$orgID == context.scope.orgID).filter(\.$deletedAt == nil)
        if let raw = query.cursor {
            let cursor = try PageCursor.decode(raw)
            spaces = spaces.group(.or) { group in
                group.filter(\.$slug > cursor.key)
                group.group(.and) { $0.filter(\.$slug == cursor.key).filter(\.$id > cursor.id) }
            }
        }
        let page = try await spaces.sort(\.$slug).sort(\.$id).limit(limit + 1).all()
        let items = page.prefix(limit)
        let next = page.count > limit ? items.last.map { PageCursor(key: $0.slug, id: $0.id!).encoded } : nil
        return Page(items: items.map(SpaceResponse.init), nextCursor: next)
    }

    @Sendable func show(req: Request) async throws -> SpaceResponse {
        let context = try await req.spaceScope()
        try context.authority.require(.scopeRead)
        return SpaceResponse(try await req.space().0)
    }

    @Sendable func update(req: Request) async throws -> SpaceResponse {
        let context = try await req.spaceScope()
        try context.authority.require(.scopeManage)
        let body = try req.decodeBody(SpaceRequest.self)
        let (space, _) = try await req.space()
        let before = ["name": space.name, "slug": space.slug, "attributes": space.attributes]
        try apply(body, to: space, creating: false)
        try await req.db.writeTransaction { db in
            try await context.locked(on: db).authority.require(.scopeManage)
            try await space.save(on: db)
            try await AuditLog(db).record(action: "space.updated", actor: context.actor, orgID: context.scope.orgID, spaceID: space.id, before: before,
                                          after: ["name": space.name, "slug": space.slug, "attributes": space.attributes], requestID: req.id, at: Date())
        }
        return SpaceResponse(space)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        let context = try await req.spaceScope()
        try context.authority.require(.scopeManage)
        try await MembershipUseCases(req: req, context: context).deleteSpace()
        return .noContent
    }

    @Sendable func leave(req: Request) async throws -> HTTPStatus {
        try await MembershipUseCases(req: req, context: try await req.spaceScope()).leave()
        return .noContent
    }
}

extension Optional {
    /// The value, or the opaque 404.
    func unwrapped() throws -> Wrapped {
        guard let value = self else { throw RosterError.notFound }
        return value
    }
}

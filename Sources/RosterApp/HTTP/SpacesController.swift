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
        space.get("audit", use: audit)
        try space.register(collection: RosterController(scope: { try await $0.spaceScope() }))
    }

    @Sendable func audit(req: Request) async throws -> Page<AuditEventResponse> {
        try await OrganizationsController.audit(req, context: req.spaceScope())
    }

    @Sendable func create(req: Request) async throws -> Response {
        let space = try await SpaceUseCases(req: req, context: req.orgScope()).create(req.decodeBody(SpaceRequest.self))
        return try jsonResponse(SpaceResponse(space), status: .created)
    }

    struct ListQuery: Content { var cursor: String?; var limit: Int? }

    @Sendable func list(req: Request) async throws -> Page<SpaceResponse> {
        let context = try await req.orgScope()
        try context.authority.require(.scopeRead)
        let query = try req.query.decode(ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw) }
        let (items, next) = try await Directory(req.db).spaces(orgID: context.scope.orgID, after: cursor, limit: limit)
        return Page(items: items.map(SpaceResponse.init), nextCursor: next?.encoded)
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
        try await SpaceUseCases(req: req, context: context).update(space, with: body)
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

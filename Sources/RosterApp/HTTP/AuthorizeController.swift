import Vapor
import Fluent
import RosterCore
import RosterStore

/// `POST /v1/authorize`: integrators ask whether an account holds a permission on an organization or space.
struct AuthorizeController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.grouped("v1").grouped(BearerAuthenticator()).post("authorize", use: authorize)
    }

    /// Decided without suspending when the answer is cached; otherwise one query.
    @Sendable func authorize(req: Request) -> EventLoopFuture<Response> {
        do {
            guard req.principal?.isPlatformKey == true else {
                throw RosterError(.forbidden, "Permission checks are for platform integrations: call with an API key.")
            }
            let body = try req.decodeBody(AuthorizeRequest.self)
            guard let permission = Permission(rawValue: body.permission) else {
                throw RosterError.validation([FieldIssue(field: "permission", message: "must be one of \(Permission.allCases.map(\.rawValue).joined(separator: ", "))")])
            }
            let target: AccessCache.Target
            switch (body.org, body.space) {
            case (let org?, nil): target = .org(org)
            case (nil, let space?):
                // A malformed space id names no space: not allowed, like an unknown one.
                guard let id = UUID(uuidString: space) else { return req.eventLoop.makeSucceededFuture(Self.response(AuthorizeResponse(allowed: false, role: nil))) }
                target = .space(id)
            default:
                throw RosterError.validation([FieldIssue(field: "org", message: "name exactly one of org (id or slug) and space (id)")])
            }
            let access = req.application.roster.access
            func answer(_ found: AccessCache.Answer?) -> Response {
                Self.response(AuthorizeResponse(allowed: found?.permissions.contains(permission) ?? false, role: found?.role))
            }
            if let cached = access.cachedAnswer(accountID: body.accountID, target: target) {
                RosterMetrics.authorizeCacheHits.increment()
                return req.eventLoop.makeSucceededFuture(answer(cached))
            }
            RosterMetrics.authorizeCacheMisses.increment()
            return req.eventLoop.makeFutureWithTask {
                answer(try await access.answer(accountID: body.accountID, target: target, on: req.db))
            }
        } catch {
            return req.eventLoop.makeFailedFuture(error)
        }
    }

    /// The hot path's answer, written directly: role keys are `[a-z][a-z0-9_]*`, so no escaping is needed.
    static func response(_ answer: AuthorizeResponse) -> Response {
        let body = "{\"allowed\":\(answer.allowed),\"role\":\(answer.role.map { "\"\($0)\"" } ?? "null")}"
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: .ok, headers: headers, body: .init(string: body))
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// `POST /v1/authorize`: integrators ask whether an account holds a permission on an organization or space.
struct AuthorizeController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.grouped("v1").grouped(BearerAuthenticator()).post("authorize", use: authorize)
    }

    @Sendable func authorize(req: Request) async throws -> AuthorizeResponse {
        guard case .apiKey? = req.principal else {
            throw RosterError(.forbidden, "Permission checks are for platform integrations: call with an API key.")
        }
        let body = try req.decodeBody(AuthorizeRequest.self)
        guard let permission = Permission(rawValue: body.permission) else {
            throw RosterError.validation([FieldIssue(field: "permission", message: "must be one of \(Permission.allCases.map(\.rawValue).joined(separator: ", "))")])
        }
        guard let orgRef = body.org, body.space == nil else {
            throw RosterError.validation([FieldIssue(field: "org", message: "name the organization by id or slug")])
        }
        let answer = try await req.application.roster.access.role(accountID: body.accountID, orgRef: orgRef, on: req.db)
        guard let answer else { return AuthorizeResponse(allowed: false, role: nil) }
        return AuthorizeResponse(allowed: answer.role.permissions.contains(permission), role: answer.role.key)
    }
}

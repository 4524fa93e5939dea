import Vapor
import RosterStore

/// `/healthz`, `/readyz` and `/openapi.json`.
struct OperationsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.get("healthz", use: health)
        routes.get("readyz", use: ready)
        routes.get("openapi.json", use: openAPI)
    }

    struct Status: Content { var status: String }

    @Sendable func health(req: Request) async throws -> Status { Status(status: "ok") }

    @Sendable func ready(req: Request) async throws -> Response {
        do {
            try await Directory(req.db).ping()
            return try jsonResponse(Status(status: "ok"))
        } catch {
            req.logger.warning("readiness check failed: \(String(reflecting: error))")
            return try jsonResponse(Status(status: "database unreachable"), status: .serviceUnavailable)
        }
    }

    @Sendable func openAPI(req: Request) async throws -> Response {
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: .ok, headers: headers, body: .init(data: OpenAPIDocument.json))
    }
}

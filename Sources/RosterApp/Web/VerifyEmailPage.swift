import Vapor
import RosterCore
import RosterStore

/// The page an emailed verification link opens: a button that verifies (POST, so link scanners never verify).
struct VerifyEmailPage: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.get("verify-email", use: show)
        routes.post("verify-email", use: submit)
    }

    struct Form: Content { var token: String? }

    @Sendable func show(req: Request) async throws -> View {
        let token = (try? req.query.decode(Form.self))?.token ?? ""
        return try await req.view.render("verify-email", ["token": token])
    }

    @Sendable func submit(req: Request) async throws -> View {
        // A URL-encoded form only: nobody's multipart body is parsed before anything is known of them.
        let token = req.headers.contentType == .urlEncodedForm ? (try? req.content.decode(Form.self))?.token ?? "" : ""
        do {
            let account = try await AccountsController.verifyEmail(token: token, on: req)
            return try await req.view.render("verify-email-done", ["verified": account != nil ? "yes" : "", "email": account?.email ?? ""])
        } catch let error as RosterError where error.code == .emailTaken {
            return try await req.view.render("verify-email-done", ["taken": error.detail])
        }
    }
}

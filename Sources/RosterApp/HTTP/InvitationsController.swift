import Vapor
import Fluent
import SQLKit
import RosterCore
import RosterStore

/// The invitee side: accept and decline by membership id (signed in) or by emailed token.
struct InvitationsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let v1 = routes.grouped("v1")
        v1.get("invitation-tokens", ":token", use: preview)
        let authed = v1.grouped(BearerAuthenticator())
        authed.post("invitations", ":id", "accept", use: acceptByID)
        authed.post("invitations", ":id", "decline", use: declineByID)
        authed.post("invitation-tokens", ":token", "accept", use: acceptByToken)
        authed.post("invitation-tokens", ":token", "decline", use: declineByToken)
    }

    /// The invitee: a signed-in person. API keys and platform administration never act for an invitee,
    /// and are refused with the same 404 as everything else on this side.
    private func invitee(_ req: Request) throws -> AccountModel {
        guard case .account(let account, _)? = req.principal else { throw RosterError.notFound }
        return account
    }

    @Sendable func preview(req: Request) async throws -> InvitationPreview {
        let token = req.parameters.get("token") ?? ""
        guard let view = try await PersonalRoster(req.db).invitation(tokenHash: Secret.hash(token), now: Date()) else { throw RosterError.notFound }
        let row = view.row, org = view.organization
        return InvitationPreview(
            organization: .init(id: row.orgID, name: org.name, slug: org.slug),
            space: view.space.map { .init(id: $0.id ?? row.scopeID, name: $0.name, slug: $0.slug) }, email: row.email,
            role: .init(key: row.roleKey, name: view.roleName), inviterName: view.inviterName, status: row.status, expiresAt: row.expiresAt)
    }

    @Sendable func acceptByID(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let id = try req.uuidParameter("id")
        return MembershipResponse(try await InviteeUseCases(req: req, account: account).respond(to: .id(id), accept: true))
    }

    @Sendable func declineByID(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let id = try req.uuidParameter("id")
        return MembershipResponse(try await InviteeUseCases(req: req, account: account).respond(to: .id(id), accept: false))
    }

    @Sendable func acceptByToken(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let token = req.parameters.get("token") ?? ""
        return MembershipResponse(try await InviteeUseCases(req: req, account: account).respond(to: .token(Secret.hash(token)), accept: true))
    }

    @Sendable func declineByToken(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let token = req.parameters.get("token") ?? ""
        return MembershipResponse(try await InviteeUseCases(req: req, account: account).respond(to: .token(Secret.hash(token)), accept: false))
    }
}

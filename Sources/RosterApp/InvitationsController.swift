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
        try await MembershipStore(req.db).expireDueInvitation(tokenHash: Secret.hash(token), now: Date())
        guard let row = try await MembershipModel.query(on: req.db).filter(\.$tokenHash == Secret.hash(token))
                .filter(\.$source == MembershipSource.invitation.rawValue)
                .filter(\.$status == MembershipStatus.pending.rawValue).first(),
              let org = try await OrganizationModel.query(on: req.db).filter(\.$id == row.orgID).filter(\.$deletedAt == nil).first()
        else { throw RosterError.notFound }
        let ladder = try await MembershipStore(req.db).ladder(orgID: row.orgID, row.spaceID == nil ? .org : .space)
        let inviter = try await row.invitedBy.asyncFlatMap { try await AccountModel.find($0, on: req.db) }
        let space = try await row.spaceID.asyncFlatMap { try await SpaceModel.find($0, on: req.db) }
        return InvitationPreview(
            organization: .init(id: row.orgID, name: org.name, slug: org.slug),
            space: space.map { .init(id: $0.id ?? row.scopeID, name: $0.name, slug: $0.slug) }, email: row.email,
            role: .init(key: row.roleKey, name: ladder.role(row.roleKey)?.name ?? row.roleKey),
            inviterName: inviter?.name, status: row.status, expiresAt: row.expiresAt)
    }

    @Sendable func acceptByID(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let id = try req.uuidParameter("id")
        return MembershipResponse(try await InviteeActions(req: req, account: account).respond(to: .id(id), accept: true))
    }

    @Sendable func declineByID(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let id = try req.uuidParameter("id")
        return MembershipResponse(try await InviteeActions(req: req, account: account).respond(to: .id(id), accept: false))
    }

    @Sendable func acceptByToken(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let token = req.parameters.get("token") ?? ""
        return MembershipResponse(try await InviteeActions(req: req, account: account).respond(to: .token(Secret.hash(token)), accept: true))
    }

    @Sendable func declineByToken(req: Request) async throws -> MembershipResponse {
        let account = try invitee(req)
        let token = req.parameters.get("token") ?? ""
        return MembershipResponse(try await InviteeActions(req: req, account: account).respond(to: .token(Secret.hash(token)), accept: false))
    }
}

/// Accepting and declining invitations, decided for the invitee only (DESIGN §2 invariants 1, 6, 7).
struct InviteeActions {
    enum Handle: Sendable { case id(UUID), token(String) }

    let req: Request
    let account: AccountModel

    /// Accepts or declines. Every refusal is the opaque 404 (DESIGN §2 invariant 7).
    func respond(to handle: Handle, accept: Bool) async throws -> MembershipModel {
        let accountID = try account.requireID()
        let email = account.email
        let verified = account.emailVerifiedAt != nil
        let requestID = req.id
        let now = Date()
        return try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let found: MembershipModel?
            switch handle {
            case .id(let id): found = try await MembershipModel.find(id, on: db)
            case .token(let hash): found = try await MembershipModel.query(on: db).filter(\.$tokenHash == hash).first()
            }
            guard let row = found, let id = row.id, row.source == MembershipSource.invitation.rawValue,
                  try await OrganizationModel.query(on: db).filter(\.$id == row.orgID).filter(\.$deletedAt == nil).count() == 1
            else { throw RosterError.notFound }
            // Re-accepting what this invitee already accepted is idempotent.
            if accept, row.status == MembershipStatus.active.rawValue, row.accountID == accountID { return row }
            let byToken: Bool
            switch handle {
            case .id:
                // By id: only the signed-in account whose verified email is the invited one.
                guard verified, row.email == email else { throw RosterError.notFound }
                byToken = false
            case .token:
                // Signed in as another account: the same 404, and the invitation stays usable.
                guard row.status == MembershipStatus.pending.rawValue, row.email == email else { throw RosterError.notFound }
                byToken = true
            }
            guard let updated = try await store.transition(
                id: id, from: [.pending], source: .invitation, to: accept ? .active : .declined, now: now,
                set: accept ? ["account_id": accountID, "name": row.name ?? account.name] : [:],
                extra: { $0.where("email", .equal, email).where("expires_at", .greaterThan, now) })
            else { throw RosterError.notFound }
            if byToken && !verified {
                // The emailed token proves control of the address.
                try await db.sql.update(AccountModel.schema).set("email_verified_at", to: now)
                    .where("id", .equal, accountID).where("email_verified_at", .is, SQLLiteral.null).run()
            }
            try await AuditLog(db).record(accept ? .accepted : .declined, actor: .account(accountID), membership: updated,
                                          before: row.auditState, after: updated.auditState, requestID: requestID, at: now)
            return updated
        }
    }
}

extension Optional where Wrapped: Sendable {
    func asyncFlatMap<T>(_ transform: (Wrapped) async throws -> T?) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

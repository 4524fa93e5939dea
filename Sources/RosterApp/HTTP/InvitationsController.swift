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

/// Accepting and declining invitations, decided for the invitee only (DESIGN §2 invariants 1, 6, 7): the invitee's
/// door to the same lifecycle path as every other (`Lifecycle.decide`, `MembershipStore.apply`).
struct InviteeUseCases: Sendable {
    enum Handle: Sendable { case id(UUID), token(String) }

    /// The signed-in invitee.
    let account: AccountModel
    let db: any Database
    let requestID: String?

    init(req: Request, account: AccountModel) {
        self.account = account
        self.db = req.db
        self.requestID = req.id
    }

    /// Accepts or declines. Every refusal is the opaque 404 (DESIGN §2 invariant 7).
    func respond(to handle: Handle, accept: Bool) async throws -> MembershipModel {
        let accountID = try account.requireID()
        let person = ActingPerson(id: accountID, email: account.email, name: account.name, emailVerified: account.emailVerifiedAt != nil)
        let found: MembershipModel?
        let inviteeHandle: InviteeHandle
        switch handle {
        case .id(let id):
            found = try await MembershipModel.find(id, on: db)
            inviteeHandle = .id
        case .token(let hash):
            found = try await MembershipModel.query(on: db).filter(\.$tokenHash == hash).first()
            inviteeHandle = .token(hash: hash)
        }
        guard let found else { throw RosterError.notFound }
        let command: MembershipCommand = accept ? .accept(inviteeHandle) : .decline(inviteeHandle)
        let requestID = self.requestID, now = Date()
        return try await db.writeTransaction { db in
            let store = MembershipStore(db)
            let scope = ScopeRef(orgID: found.orgID, spaceID: found.spaceID)
            do { try await store.lockOrganization(scope.orgID) } catch { throw RosterError.notFound }
            var base = ScopeFacts(scope: scope, actor: .account(accountID), person: person, actorName: person.name, authority: .none,
                                  ladder: RoleLadder(scope.ladder, roles: []), settings: ScopeSettings(), orgName: "", orgSlug: "")
            base.target = found.facts
            let facts = try await store.load(command, into: base, now: now)
            let plan = try Lifecycle.decide(command, facts: facts, now: now, fresh: .unused)
            let written = try await store.apply(plan, now: now, requestID: requestID)
            guard let id = plan.result else { throw RosterError.notFound }
            if let row = written[id] { return row }
            guard let row = try await MembershipModel.find(id, on: db) else { throw RosterError.notFound }
            return row
        }
    }
}

extension Optional where Wrapped: Sendable {
    func asyncFlatMap<T>(_ transform: (Wrapped) async throws -> T?) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

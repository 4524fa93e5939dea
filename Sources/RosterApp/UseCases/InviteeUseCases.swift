import Vapor
import Fluent
import RosterCore
import RosterStore

/// Accepting and declining invitations, decided for the invitee only (DESIGN §2 invariants 1, 6, 7): the invitee's
/// door to the same lifecycle path as every other (`Lifecycle.decide`, `MembershipStore.apply`).
struct InviteeUseCases: Sendable {
    enum Handle: Sendable { case id(UUID), token(String) }

    /// The signed-in invitee.
    let account: AccountModel
    let db: any Database
    let requestID: String?
    let limits: RosterLimits

    init(req: Request, account: AccountModel) {
        self.account = account
        self.db = req.db
        self.requestID = req.id
        self.limits = req.application.roster.limits
    }

    /// Accepts or declines. Every refusal is the opaque 404 (DESIGN §2 invariant 7).
    func respond(to handle: Handle, accept: Bool) async throws -> MembershipModel {
        let accountID = try account.requireID()
        let person = ActingPerson(id: accountID, email: account.email, name: account.name, emailVerified: account.emailVerifiedAt != nil)
        let found: MembershipModel?
        let inviteeHandle: InviteeHandle
        switch handle {
        case .id(let id):
            found = try await PersonalRoster(db).row(id: id)
            inviteeHandle = .id
        case .token(let hash):
            found = try await PersonalRoster(db).invitation(tokenHash: hash)
            inviteeHandle = .token(hash: hash)
        }
        guard let found else { throw RosterError.notFound }
        let command: MembershipCommand = accept ? .accept(inviteeHandle) : .decline(inviteeHandle)
        let requestID = self.requestID, now = Date()
        let row = try await db.writeTransaction { db in
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
            guard let row = try await PersonalRoster(db).row(id: id) else { throw RosterError.notFound }
            return row
        }
        // Accepting by the emailed token verified the address: the account joins where its domain says it does.
        if account.emailVerifiedAt == nil, case .token = handle, accept, let verified = try await AccountModel.find(accountID, on: db) {
            await DomainJoins(db: db, limits: limits).afterVerification(of: verified)
        }
        return row
    }
}

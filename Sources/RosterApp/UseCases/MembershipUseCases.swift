import Vapor
import Fluent
import RosterCore
import RosterStore
import SQLKit

/// The membership use cases every door calls (API controllers, web pages, the CLI): each turns its input into a
/// `MembershipCommand` and runs it through `run`: the organization's lock, the facts read under it,
/// `Lifecycle.decide`, and `MembershipStore.apply`, in one transaction. It takes an actor (in `context`), never a
/// request.
struct MembershipUseCases: Sendable {
    /// The scope acted on and the actor acting (resolved before the transaction, for early refusals).
    let context: ScopeContext
    let db: any Database
    let limits: RosterLimits
    /// The request id the audit log records, when the door has one.
    let requestID: String?
    /// The password hash of accounts a decision creates (provisioning): of a secret nobody knows.
    var newAccountPasswordHash = ""

    // MARK: Commands

    func invite(_ body: InviteMemberRequest) async throws -> MembershipModel {
        let input = InviteInput(
            email: try MemberFields.email(body.email).value, role: body.role, name: try MemberFields.name(body.name),
            externalID: try MemberFields.externalID(body.externalID), attributes: body.attributes?.mapValues(\.text) ?? [:])
        return try await required(run(.invite(input)))
    }

    /// Resends a pending or expired invitation with a new link. With a different `email` (a corrected address, e.g.
    /// after the first one bounced), the old invitation is revoked and a new one with the same role, name, external
    /// ID and attributes goes to the new address instead.
    func resend(id: UUID, to newEmail: EmailAddress? = nil) async throws -> MembershipModel {
        try await required(run(.resend(id, newEmail: newEmail?.value)))
    }

    func update(id: UUID, _ body: UpdateMemberRequest) async throws -> MembershipModel {
        let externalID: String?? = try body.externalID.map { try MemberFields.externalID($0) }
        return try await required(run(.update(id, MemberUpdate(role: body.role, externalID: externalID, attributes: body.attributes?.mapValues(\.text)))))
    }

    /// Removes an active member, or revokes a pending invitation.
    func remove(id: UUID) async throws {
        _ = try await run(.remove(id))
    }

    /// The caller leaves the scope.
    func leave() async throws {
        _ = try await run(.leave)
    }

    func requestToJoin(_ body: JoinRequestBody) async throws -> MembershipModel {
        try await required(run(.requestToJoin(message: try MemberFields.message(body.message))))
    }

    /// Approves (with an optional role) or rejects a pending join request.
    func review(id: UUID, approve: Bool, roleKey: String?) async throws -> MembershipModel {
        try await required(run(approve ? .approve(id, role: roleKey) : .reject(id)))
    }

    /// The requester withdraws their own pending join request.
    func withdraw(id: UUID) async throws {
        _ = try await run(.withdraw(id))
    }

    /// Deletes the organization of `context` (owners): every live row in it ends.
    func deleteOrganization() async throws {
        _ = try await run(.deleteOrganization)
    }

    /// Deletes the space of `context`: every live row of its roster ends.
    func deleteSpace() async throws {
        _ = try await run(.deleteSpace)
    }

    // MARK: The one path

    /// Runs `command` on the scope of `context` in one write transaction: takes the organization's lock, re-reads
    /// the actor's authority and the command's facts under it, decides, applies. Returns the row the command is about.
    /// `alongside` gives the door's own writes that go with the plan, from the id of the row it is about (see
    /// `MembershipStore.apply`).
    func run(_ command: MembershipCommand,
             alongside: @escaping @Sendable (UUID?) -> [any SQLExpression] = { _ in [] }) async throws -> MembershipModel? {
        let now = Date()
        let token = Secret.generate()
        let step = CommandStep(
            unlocked: context, command: command, limits: limits, requestID: requestID, now: now,
            fresh: FreshValues(id: UUID(), token: token, tokenHash: Secret.hash(token), unusablePasswordHash: newAccountPasswordHash),
            alongside: alongside)
        // An invitation's facts about the invitee are read before the lock (and the transaction, unless one is open),
        // which then is held the shorter; if they went stale, the transaction runs again reading them under it.
        let invitee = try await MembershipStore(db).inviteeFacts(command, scope: context.scope, now: now)
        if ProvisioningQueue.serves(step, on: db), case .done(let result) = await ProvisioningQueue.shared.submit(step, invitee: invitee, on: db) {
            return try result.get()
        }
        return try await db.writeTransaction(notifying: .whenAccessChanges) { db in
            let early = WriteTransactionScope.readsEverythingUnderLock ? nil : invitee
            let context = try await step.unlocked.locked(on: db, emailDomain: command.provisionedEmailDomain)
            return try await step.apply(try await step.decide(on: db, locked: context, early: early).plan, on: db, early: early)
        }
    }

    private func required(_ row: MembershipModel?) throws -> MembershipModel {
        guard let row else { throw RosterError.notFound }
        return row
    }
}

/// One command's way through its organization's lock, in a write transaction that holds it: the facts and the
/// decision (`decide`), then the writes (`apply`). `MembershipUseCases.run` takes it alone; `ProvisioningQueue` takes
/// several in one transaction.
struct CommandStep: Sendable {
    let unlocked: ScopeContext
    let command: MembershipCommand
    let limits: RosterLimits
    let requestID: String?
    let now: Date
    let fresh: FreshValues
    let alongside: @Sendable (UUID?) -> [any SQLExpression]

    /// Reads the command's facts under the lock (`context`, as the lock read it) and decides; with the plan, the
    /// invitation budget and the scope's live rows its facts held (`MembershipStore.load` for `invitationBudget`,
    /// `budgetTakes` and `liveRows`). A refusal (`RosterError`) leaves nothing written but the expiries of
    /// invitations whose time was up.
    func decide(on db: any Database, locked context: ScopeContext, early: InviteeFacts?, invitationBudget: InvitationBudget? = nil,
                budgetTakes: Int = 1, liveRows: Int? = nil) async throws -> (plan: MembershipPlan, budget: InvitationBudget, liveRows: Int) {
        let store = MembershipStore(db)
        switch command {
        case .resend, .requestToJoin, .joinByLink:
            // An invitation whose time is up holds no seat and no address (invitations expire those in their way
            // while their facts are read).
            try await store.expireInvitations(scopeID: context.scope.scopeID, now: now)
        default: break
        }
        let facts = try await store.load(command, into: context.facts(limits: limits), now: now, invitee: early,
                                         emailDomainVerified: context.emailDomainVerified, invitationBudget: invitationBudget,
                                         budgetTakes: budgetTakes, liveRows: liveRows)
        return (try Lifecycle.decide(command, facts: facts, now: now, fresh: fresh), facts.invitationBudget, facts.liveRows)
    }

    /// Writes `plan`; the row the command is about. Facts read before the lock (`early`) that went stale end the
    /// transaction with `StaleFacts`, to run again reading everything under it.
    func apply(_ plan: MembershipPlan, on db: any Database, early: InviteeFacts?) async throws -> MembershipModel? {
        let written: [UUID: MembershipModel]
        do {
            written = try await MembershipStore(db).apply(plan, now: now, requestID: requestID, alongside: alongside(plan.result))
        } catch where early != nil && (error as? RosterError == plan.lostRace || (error as? any DatabaseError)?.isConstraintFailure == true) {
            throw StaleFacts(error)
        }
        guard let id = plan.result else { return nil }
        if let row = written[id] { return row }
        let row = try await MembershipModel.find(id, on: db)
        // A live row adopted as it was read before the lock (provisioning an existing member) must still be live.
        if early != nil, row.flatMap({ MembershipStatus(rawValue: $0.status) })?.isLive != true {
            throw StaleFacts(RosterError.notFound)
        }
        return row
    }
}

extension MembershipUseCases {
    /// The use cases as the caller of `req` on `context`.
    init(req: Request, context: ScopeContext) {
        self.init(context: context, db: req.db, limits: req.application.roster.limits, requestID: req.id)
    }
}

/// Validation of the per-member fields shared by invitations and updates.
enum MemberFields {
    /// A member's name: the rule for account names (`AccountRules.name`), blank meaning none.
    static func name(_ raw: String?) throws(RosterError) -> String? {
        guard let raw, !raw.allSatisfy(\.isWhitespace) else { return nil }
        switch AccountRules.name(raw) {
        case .success(let name): return name
        case .failure(let issue): throw RosterError.validation([issue])
        }
    }

    /// A member's address (an invitation's, or a resend's corrected one); `field` names the input in the issue.
    static func email(_ raw: String, field: String = "email") throws(RosterError) -> EmailAddress {
        guard let email = EmailAddress(raw) else {
            throw RosterError.validation([FieldIssue(field: field, message: "must be an email address like name@example.com")])
        }
        return email
    }

    static func externalID(_ raw: String?) throws(RosterError) -> String? {
        try text(raw, field: "external_id", maximum: ImportPlanner.maximumExternalIDLength)
    }

    static func message(_ raw: String?) throws(RosterError) -> String? {
        try text(raw, field: "message", maximum: 2000)
    }


    /// Trimmed text, nil when empty, refused when longer than `maximum` characters or holding a NUL (which
    /// PostgreSQL refuses in text).
    private static func text(_ raw: String?, field: String, maximum: Int) throws(RosterError) -> String? {
        guard let raw else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count > maximum {
            throw RosterError.validation([FieldIssue(field: field, message: "must be at most \(maximum) characters")])
        }
        if trimmed.utf8.contains(0) {
            throw RosterError.validation([FieldIssue(field: field, message: "must not contain NUL characters")])
        }
        return trimmed.isEmpty ? nil : trimmed
    }
}

extension MembershipCommand {
    /// The domain of the email a provisioning is for: whether the organization verified it decides the row's status.
    var provisionedEmailDomain: String? {
        guard case .provision(let input) = self else { return nil }
        return DomainName.of(email: input.email)
    }
}

import Foundation
import Fluent
import RosterCore
import RosterStore
import Synchronization

/// Provisioning commands (SCIM creates) of one organization that arrive while one of them holds its lock share the
/// next write transaction, on PostgreSQL: one lock, one `COMMIT` and one read of the rules for up to `batchLimit`
/// of them, where each would otherwise take a transaction of its own and queue on the organization's row lock.
///
/// Each command is still decided alone by `Lifecycle.decide`, one after the other, on what the earlier ones left (a
/// seat, a budget slot, an event number). Plans that only add (`MembershipPlan.onlyAdds`) are written together, in
/// one statement (`AddedPlans`), as long as no later decision reads what they write: the seats and budget slots they
/// take are passed on in memory, and when a command's facts are read under the lock, what was added is written
/// before it is decided. Other plans are written by `MembershipStore.apply`, in turn. A refusal is that command's
/// answer alone (the expiries of due invitations its facts needed stay written, as they would under any later
/// command). Any other failure (a stale fact, a unique index: the same user created twice) rolls the transaction
/// back: when the joined writes failed, the batch goes again with each command's writes on their own; otherwise the
/// command it failed at runs by itself, as if it had never waited here, and the others go again together.
///
/// Whoever finds no transaction of the organization running leads: it runs its own command with up to
/// `batchLimit − 1` of those waiting, then hands the lead to the next waiter.
final class ProvisioningQueue: Sendable {
    static let shared = ProvisioningQueue()
    /// At most this many commands per transaction.
    static let batchLimit = 32
    /// Failed transactions one batch may take, each leaving out the command it failed at (a failed joined write, which
    /// leaves out none, is not counted).
    static let attempts = 3

    /// What a caller is told when its turn comes.
    enum Turn: Sendable {
        /// Run the next batch, this caller's command first.
        case lead
        /// The command ran in a batch: its row, or its refusal.
        case done(Result<MembershipModel?, RosterError>)
        /// The batch failed at this command (or failed `attempts` times): run it alone.
        case alone
    }

    private struct Waiter: Sendable {
        let step: CommandStep
        let invitee: InviteeFacts?
        let turn: CheckedContinuation<Turn, Never>
    }

    private struct Line {
        var leading = false
        var waiting: [Waiter] = []
    }

    private let lines = Mutex<[UUID: Line]>([:])

    /// Whether `step` may wait here: an organization's provisioning, on PostgreSQL, outside any open transaction.
    static func serves(_ step: CommandStep, on db: any Database) -> Bool {
        guard case .provision = step.command, step.unlocked.scope.spaceID == nil else { return false }
        return SQLBackend(db) == .postgres && !db.inTransaction
    }

    /// Runs `step` in a batch of its organization's provisioning; `.alone` when the caller is to run it itself.
    func submit(_ step: CommandStep, invitee: InviteeFacts?, on db: any Database) async -> Turn {
        let orgID = step.unlocked.scope.orgID
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let leads = lines.withLock { lines in
                if lines[orgID, default: Line()].leading {
                    lines[orgID, default: Line()].waiting.append(Waiter(step: step, invitee: invitee, turn: continuation))
                    return false
                }
                lines[orgID, default: Line()].leading = true
                return true
            }
            if leads { continuation.resume(returning: .lead) }
        }
        guard case .lead = turn else { return turn }
        let others = lines.withLock { lines in
            let taken = Array(lines[orgID, default: Line()].waiting.prefix(Self.batchLimit - 1))
            lines[orgID, default: Line()].waiting.removeFirst(taken.count)
            return taken
        }
        let turns = await run([(step, invitee)] + others.map { ($0.step, $0.invitee) }, on: db)
        let next = lines.withLock { lines -> Waiter? in
            guard var line = lines[orgID], !line.waiting.isEmpty else {
                lines[orgID] = nil
                return nil
            }
            let next = line.waiting.removeFirst()
            lines[orgID] = line
            return next
        }
        next?.turn.resume(returning: .lead)
        for (waiter, turn) in zip(others, turns.dropFirst()) { waiter.turn.resume(returning: turn) }
        return turns[0]
    }

    /// Write transactions for `batch`: the organization's lock, then each command decided and written in turn. When
    /// the joined writes fail, the batch goes again without joining them. When one fails otherwise, the command it
    /// failed at is left to run alone and the others go again together (at most `attempts` times; then every
    /// command left runs alone).
    private func run(_ batch: [(step: CommandStep, invitee: InviteeFacts?)], on db: any Database) async -> [Turn] {
        var turns = [Turn](repeating: .alone, count: batch.count)
        var pending = Array(batch.indices)
        var joinedFailure: (any Error)?, failures = 0
        while failures < Self.attempts, !pending.isEmpty {
            let reached = Position()
            do {
                let results = try await transaction(pending.map { batch[$0] }, joiningWrites: joinedFailure == nil, reached: reached, on: db)
                for (index, result) in zip(pending, results) { turns[index] = .done(result) }
                if let joinedFailure, failures == 0 {
                    // Not one command of the batch failed on its own: the joined statement itself did.
                    db.logger.warning("A batch's joined writes failed where its commands' own did not", metadata: ["error": "\(String(reflecting: joinedFailure))"])
                }
                return turns
            } catch let failure as JoinedWritesFailed {
                joinedFailure = failure.underlying
            } catch {
                // (A failure before the first command or at `COMMIT` blames the first or the last: it runs alone.)
                pending.remove(at: min(reached.index, pending.count - 1))
                failures += 1
            }
        }
        return turns
    }

    /// One write transaction for `batch`; `reached` is the position of the command being decided or written. With
    /// `joiningWrites`, the writes of plans that only add are joined (`AddedPlans`); when they fail, it throws
    /// `JoinedWritesFailed`.
    private func transaction(_ batch: [(step: CommandStep, invitee: InviteeFacts?)], joiningWrites: Bool, reached: Position,
                             on db: any Database) async throws -> [Result<MembershipModel?, RosterError>] {
        let first = batch[0].step
        return try await db.writeTransaction(notifying: .whenAccessChanges) { db in
            let underLock = WriteTransactionScope.readsEverythingUnderLock
            let domain = first.command.provisionedEmailDomain
            let locked = try await MembershipStore(db).lockedOrganization(first.unlocked.scope.orgID, ladder: .org, domain: domain)
            var results: [Result<MembershipModel?, RosterError>] = []
            // The organization's invitation budget, read once for the whole batch by the first command that sends an
            // invitation, and passed on with the slot each took (`InvitationBudget.after`).
            var budget: InvitationBudget?
            // Likewise the live rows of a roster with a seat limit, counted by the first command (after it expired the
            // due invitations) and passed on with the rows each joined plan adds; read again after other writes.
            var seats: Int?
            var wrote = false
            var added = AddedPlans(db), adding = false
            func writeAdded() async throws {
                guard adding else { return }
                do { try await added.write() } catch { throw JoinedWritesFailed(underlying: error) }
                adding = false
            }
            for (index, (step, invitee)) in batch.enumerated() {
                reached.set(index)
                var context = try await step.unlocked.reading(locked, on: db)
                // Read with the lock for the first command's domain only; `load` reads any other.
                if step.command.provisionedEmailDomain != domain { context.emailDomainVerified = nil }
                var early = underLock ? nil : invitee
                // Facts read under the lock must see what the earlier commands added (and may expire invitations).
                if early == nil || !joiningWrites {
                    try await writeAdded()
                    seats = nil
                }
                func decide() async throws -> (plan: MembershipPlan, budget: InvitationBudget, liveRows: Int) {
                    try await step.decide(on: db, locked: context, early: early, invitationBudget: budget, budgetTakes: batch.count - index,
                                          liveRows: seats)
                }
                let plan: MembershipPlan, liveRows: Int
                do {
                    var decided: (plan: MembershipPlan, budget: InvitationBudget, liveRows: Int)
                    do {
                        decided = try await decide()
                    } catch is RosterError where early != nil && wrote {
                        // Refused on facts read before the batch, which an earlier command of it may have changed:
                        // decided again on facts read now.
                        early = nil
                        try await writeAdded()
                        seats = nil
                        decided = try await decide()
                    }
                    (plan, liveRows) = (decided.plan, decided.liveRows)
                    if let left = decided.budget.after(plan, now: step.now) { budget = left }
                } catch let refusal as RosterError {
                    results.append(.failure(refusal))
                    continue
                }
                // (Only a plan whose answer is a row it inserts: an adopted row is read back after the writes.)
                if joiningWrites, early != nil, plan.onlyAdds, let id = plan.result, plan.inserts.contains(where: { $0.id == id }) {
                    let rows = try await added.add(plan, now: step.now, requestID: step.requestID, alongside: step.alongside(id))
                    adding = true
                    results.append(.success(rows[id]))
                    if locked.org.seatLimit != nil { seats = liveRows + plan.liveRowsAdded(scopeID: step.unlocked.scope.scopeID) }
                } else {
                    try await writeAdded()
                    results.append(.success(try await step.apply(plan, on: db, early: early)))
                    seats = nil
                }
                wrote = true
            }
            try await writeAdded()
            return results
        }
    }
}

/// The joined writes of a batch's plans failed (`AddedPlans`): which command's, the error does not say.
private struct JoinedWritesFailed: Error {
    let underlying: any Error
}

/// Where a batch's transaction is: the position of the command being decided or written (the one a failure blames).
private final class Position: Sendable {
    private let value = Mutex(0)
    var index: Int { value.withLock { $0 } }
    func set(_ index: Int) { value.withLock { $0 = index } }
}

import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// Claiming and settling outbox messages for delivery.
///
/// Statuses: `queued` (waiting, possibly for a retry time), `sending` (claimed by a worker), `sent`,
/// `failed_transient` (retries exhausted), `failed_permanent` (the recipient was refused).
public struct OutboxDelivery: Sendable {
    /// The database the outbox lives in.
    public let db: any Database

    /// Delivery bookkeeping on `db`.
    public init(_ db: any Database) { self.db = db }

    /// Claims up to `limit` due messages (status `queued`, time come) by moving them to `sending`.
    /// On PostgreSQL concurrent workers skip each other's rows (`FOR UPDATE SKIP LOCKED`); on SQLite the write
    /// lock serializes claims.
    public func claim(limit: Int, now: Date) async throws -> [OutboxMessageModel] {
        let query = claimQuery(limit: limit, now: now)
        // Look before taking the write lock: an idle poll must not count as a change (it would empty every cache).
        let due = try await db.sql.select().column("id").from(OutboxMessageModel.schema)
            .where("status", .equal, "queued").where("next_attempt_at", .lessThanOrEqual, now).limit(1).all()
        if due.isEmpty { return [] }
        return try await db.writeTransaction { db in
            try await db.sql.raw(query).all().map { try $0.decode(fluentModel: OutboxMessageModel.self) }
        }
    }

    /// The statement of `claim(limit:now:)` (pinned in tests).
    public func claimQuery(limit: Int, now: Date) -> SQLQueryString {
        let lock = SQLBackend(db) == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return """
        UPDATE outbox_messages SET status = 'sending', attempts = attempts + 1, claimed_at = \(bind: now) \
        WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'queued' AND next_attempt_at <= \(bind: now) \
        ORDER BY next_attempt_at LIMIT \(literal: limit)\(unsafeRaw: lock)) RETURNING *
        """
    }

    /// What became of one claimed message.
    public struct Settlement: Sendable {
        public enum Result: Sendable {
            /// Delivered; its template fields, which may hold a one-time token, are dropped.
            case sent
            /// Failed for now; tried again at this time.
            case retry(error: String, at: Date)
            /// Retries ran out (`failed_transient`).
            case exhausted(error: String)
            /// The recipient was refused for good (`failed_permanent`); the fields are dropped.
            case refused(error: String)
        }

        /// The claimed message, as the claim returned it (its attempt count identifies the claim).
        public var message: OutboxMessageModel
        public var result: Result

        /// What became of `message`.
        public init(_ message: OutboxMessageModel, _ result: Result) {
            self.message = message
            self.result = result
        }
    }

    /// Records what became of a batch (and each invitation's delivery status) in one transaction.
    public func settle(_ settlements: [Settlement], now: Date) async throws {
        if settlements.isEmpty { return }
        try await db.writeTransaction { db in
            for settlement in settlements {
                guard let id = settlement.message.id else { continue }
                let status: String, error: String?
                var update = db.sql.update(OutboxMessageModel.schema).set("claimed_at", to: SQLLiteral.null)
                switch settlement.result {
                case .sent:
                    (status, error) = ("sent", nil)
                    update = update.set("sent_at", to: now).set("payload", to: SQLLiteral.null)
                case .retry(let message, let at):
                    (status, error) = ("queued", message)
                    update = update.set("next_attempt_at", to: at)
                case .exhausted(let message):
                    (status, error) = ("failed_transient", message)
                case .refused(let message):
                    (status, error) = ("failed_permanent", message)
                    update = update.set("payload", to: SQLLiteral.null)
                }
                // Only the claim this worker holds: every claim counts an attempt, so a message taken over after its
                // lease has a higher count and belongs to another worker.
                let settled = try await update.set("status", to: status).set("last_error", to: error)
                    .where("id", .equal, id).where("status", .equal, "sending").where("attempts", .equal, settlement.message.attempts)
                    .returning("id").all()
                if !settled.isEmpty, let membershipID = settlement.message.membershipID, settlement.message.kind == EmailKind.invitation.rawValue {
                    try await db.sql.update(MembershipModel.schema)
                        .set("delivery_status", to: status).set("delivery_error", to: error)
                        .where("id", .equal, membershipID)
                        .run()
                }
            }
        }
    }

    /// Gives claimed messages back unchanged (their attempt not counted): delivery is paused by a sender-side
    /// failure, which is no fault of theirs, or the worker is stopping.
    public func release(_ messages: [OutboxMessageModel]) async throws {
        if messages.isEmpty { return }
        try await db.writeTransaction { db in
            for message in messages {
                guard let id = message.id else { continue }
                try await db.sql.update(OutboxMessageModel.schema)
                    .set("status", to: "queued").set("attempts", to: SQLRaw("attempts - 1")).set("claimed_at", to: SQLLiteral.null)
                    .where("id", .equal, id).where("status", .equal, "sending").where("attempts", .equal, message.attempts)
                    .run()
            }
        }
    }

    /// Puts messages claimed before `cutoff` and never settled (their worker stopped) back in the queue.
    public func requeueStale(claimedBefore cutoff: Date) async throws {
        let stale = try await db.sql.select().column("id").from(OutboxMessageModel.schema)
            .where("status", .equal, "sending").where("claimed_at", .lessThan, cutoff).limit(1).all()
        if stale.isEmpty { return }
        try await db.writeTransaction { db in
            try await db.sql.update(OutboxMessageModel.schema).set("status", to: "queued").set("claimed_at", to: SQLLiteral.null)
                .where("status", .equal, "sending").where("claimed_at", .lessThan, cutoff).run()
        }
    }

    /// Queues `failed_transient` messages (one, or all) for another round of attempts; returns how many.
    public func retry(id: UUID?, now: Date) async throws -> Int {
        try await db.writeTransaction { db in
            var update = db.sql.update(OutboxMessageModel.schema)
                .set("status", to: "queued").set("attempts", to: 0).set("next_attempt_at", to: now).set("last_error", to: SQLLiteral.null)
                .where("status", .equal, "failed_transient")
            if let id { update = update.where("id", .equal, id) }
            let rows = try await update.returning("id", "membership_id", "kind").all()
            let invitations = try rows.filter { try $0.decode(column: "kind", as: String.self) == EmailKind.invitation.rawValue }
                .compactMap { try $0.decodeNil(column: "membership_id") ? nil : $0.decode(column: "membership_id", as: UUID.self) }
            if !invitations.isEmpty {
                try await db.sql.update(MembershipModel.schema).set("delivery_status", to: "queued").set("delivery_error", to: SQLLiteral.null)
                    .where("id", .in, invitations).run()
            }
            return rows.count
        }
    }

    /// Messages for `roster outbox list`, newest first: all, or only the failed ones.
    public func list(failedOnly: Bool, limit: Int) async throws -> [OutboxMessageModel] {
        var query = OutboxMessageModel.query(on: db).sort(\.$createdAt, .descending).limit(limit)
        if failedOnly { query = query.filter(\.$status ~~ ["failed_transient", "failed_permanent"]) }
        return try await query.all()
    }

    /// The outbox and invitation figures `/metrics` shows, read when it is scraped.
    public struct Backlog: Sendable, Equatable {
        /// Messages by state: `due` (queued, time come), `scheduled` (queued for later: a retry or a budget slot),
        /// `sending`, `failed_transient`.
        public var messages: [String: Int]
        /// Seconds the oldest due message has waited (0 when none is due).
        public var oldestDueSeconds: Double
        /// Pending invitations by the delivery status of their email.
        public var invitations: [String: Int]
    }

    /// Counts what is waiting: the outbox by its status index, and pending invitations (a read of those rows).
    public func backlog(now: Date) async throws -> Backlog {
        var messages = ["due": 0, "scheduled": 0, "sending": 0, "failed_transient": 0]
        let rows = try await db.sql.raw("""
            SELECT CASE WHEN status = 'queued' AND next_attempt_at <= \(bind: now) THEN 'due' WHEN status = 'queued' THEN 'scheduled' ELSE status END AS state, \
            COUNT(*) AS n, MIN(CASE WHEN status = 'queued' AND next_attempt_at <= \(bind: now) THEN next_attempt_at END) AS oldest \
            FROM outbox_messages WHERE status IN ('queued', 'sending', 'failed_transient') GROUP BY 1
            """).all()
        var oldest: Date?
        for row in rows {
            messages[try row.decode(column: "state", as: String.self)] = try row.decode(column: "n", as: Int.self)
            if let due = try row.decode(column: "oldest", as: Date?.self) { oldest = min(oldest ?? due, due) }
        }
        var invitations: [String: Int] = [:]
        let pending = try await db.sql.select().column("delivery_status").column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(MembershipModel.schema)
            .where("status", .equal, MembershipStatus.pending.rawValue).where("source", .equal, MembershipSource.invitation.rawValue)
            .groupBy("delivery_status").all()
        for row in pending {
            invitations[try row.decode(column: "delivery_status", as: String?.self) ?? "none"] = try row.decode(column: "n", as: Int.self)
        }
        return Backlog(messages: messages, oldestDueSeconds: oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0, invitations: invitations)
    }
}

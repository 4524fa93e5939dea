import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// Claiming and settling outbox messages for delivery.
public struct OutboxDelivery: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Claims up to `limit` due messages (status `queued`, time come) by moving them to `sending`.
    /// On PostgreSQL concurrent workers skip each other's rows (`FOR UPDATE SKIP LOCKED`).
    public func claim(limit: Int, now: Date) async throws -> [OutboxMessageModel] {
        let lock = SQLBackend(db) == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let query: SQLQueryString = """
        UPDATE outbox_messages SET status = 'sending', attempts = attempts + 1 \
        WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'queued' AND next_attempt_at <= \(bind: now) \
        ORDER BY next_attempt_at LIMIT \(literal: limit)\(unsafeRaw: lock)) RETURNING *
        """
        // Look before taking the write lock: an idle poll must not count as a change (it would empty every cache).
        let due = try await db.sql.select().column("id").from(OutboxMessageModel.schema)
            .where("status", .equal, "queued").where("next_attempt_at", .lessThanOrEqual, now).limit(1).all()
        if due.isEmpty { return [] }
        return try await db.writeTransaction { db in
            try await db.sql.raw(query).all().map { try $0.decode(fluentModel: OutboxMessageModel.self) }
        }
    }

    /// Records a delivered message (and the invitation's delivery status).
    public func markSent(_ message: OutboxMessageModel, now: Date) async throws {
        try await settle(message, status: "sent", error: nil, nextAttempt: nil, now: now)
    }

    /// Records a failed attempt: retried at `retryAt`, or settled as `failed_transient`/`failed_permanent`.
    public func markFailed(_ message: OutboxMessageModel, error: String, permanent: Bool, retryAt: Date?, now: Date) async throws {
        if let retryAt, !permanent {
            try await settle(message, status: "queued", error: error, nextAttempt: retryAt, now: now)
        } else {
            try await settle(message, status: permanent ? "failed_permanent" : "failed_transient", error: error, nextAttempt: nil, now: now)
        }
    }

    private func settle(_ message: OutboxMessageModel, status: String, error: String?, nextAttempt: Date?, now: Date) async throws {
        guard let id = message.id else { return }
        try await db.writeTransaction { db in
            var update = db.sql.update(OutboxMessageModel.schema).set("status", to: status).set("last_error", to: error)
            if status == "sent" { update = update.set("sent_at", to: now) }
            if let nextAttempt { update = update.set("next_attempt_at", to: nextAttempt) }
            try await update.where("id", .equal, id).run()
            if let membershipID = message.membershipID, message.kind == "invitation" {
                let delivery = status == "queued" ? "queued" : status
                try await db.sql.update(MembershipModel.schema)
                    .set("delivery_status", to: delivery).set("delivery_error", to: status == "sent" ? nil : error)
                    .where("id", .equal, membershipID)
                    .run()
            }
        }
    }

    /// Puts messages left in `sending` by a stopped worker back in the queue.
    public func requeueStale(olderThan cutoff: Date) async throws {
        let stale = try await db.sql.select().column("id").from(OutboxMessageModel.schema)
            .where("status", .equal, "sending").where("next_attempt_at", .lessThan, cutoff).limit(1).all()
        if stale.isEmpty { return }
        try await db.writeTransaction { db in
            try await db.sql.update(OutboxMessageModel.schema).set("status", to: "queued")
                .where("status", .equal, "sending").where("next_attempt_at", .lessThan, cutoff).run()
        }
    }
}

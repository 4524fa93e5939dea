import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// Webhook endpoints, their delivery log, and the state deliveries move (issue 15, point 2).
///
/// Deliveries follow each organization's events in commit order (`EventSequence`): an endpoint keeps the number of
/// the last event it handled (`cursor`), a worker holds it (`lease_until`) while it sends what follows, and settles
/// each batch in one transaction: the attempts into the log, the cursor forward, or the endpoint's failure state.
public struct WebhookStore: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    // MARK: Endpoints

    /// The organization's endpoints, oldest first.
    public func endpoints(orgID: UUID) async throws -> [WebhookEndpointModel] {
        try await WebhookEndpointModel.query(on: db).filter(\.$orgID == orgID).sort(\.$createdAt).sort(\.$id).all()
    }

    /// One endpoint of the organization.
    public func endpoint(_ id: UUID, orgID: UUID) async throws -> WebhookEndpointModel? {
        try await WebhookEndpointModel.query(on: db).filter(\.$id == id).filter(\.$orgID == orgID).first()
    }

    /// Creates `endpoint` (inside the caller's write transaction), starting after the organization's latest event:
    /// it receives what happens from now on. Refused past `WebhookRules.maximumEndpoints`.
    public func create(_ endpoint: WebhookEndpointModel) async throws {
        let count = try await WebhookEndpointModel.query(on: db).filter(\.$orgID == endpoint.orgID).count()
        guard count < WebhookRules.maximumEndpoints else {
            throw RosterError(.conflict, "An organization has at most \(WebhookRules.maximumEndpoints) webhook endpoints; delete one first.")
        }
        let latest = try await db.sql.select().column("event_seq").from(OrganizationModel.schema).where("id", .equal, endpoint.orgID)
            .first()?.decode(column: "event_seq", as: Int64.self)
        endpoint.cursor = latest ?? 0
        try await endpoint.create(on: db)
    }

    // MARK: Delivering

    /// Endpoints with events to deliver now: enabled, behind their organization's latest event, not waiting for a
    /// retry and not held by a worker.
    public func due(now: Date, limit: Int) async throws -> [UUID] {
        try await db.sql.raw("""
            SELECT e.id FROM webhook_endpoints e JOIN organizations o ON o.id = e.org_id
            WHERE e.enabled = \(bind: true) AND e.cursor < o.event_seq
              AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= \(bind: now))
              AND (e.lease_until IS NULL OR e.lease_until < \(bind: now))
            ORDER BY e.next_attempt_at, e.id LIMIT \(bind: limit)
            """).all().map { try $0.decode(column: "id", as: UUID.self) }
    }

    /// Takes the endpoint for `lease` seconds, unless another worker holds it (consume-once:
    /// `UPDATE … WHERE lease_until IS NULL OR lease_until < now RETURNING`). The returned endpoint's `leaseToken` names
    /// this hold: only it renews or settles it.
    public func claim(_ id: UUID, now: Date, lease: TimeInterval) async throws -> WebhookEndpointModel? {
        try await db.writeTransaction { db in
            try await db.sql.update(WebhookEndpointModel.schema)
                .set("lease_until", to: now.addingTimeInterval(lease)).set("lease_token", to: UUID().uuidString)
                .where("id", .equal, id).where("enabled", .equal, true)
                .where { $0.where("lease_until", .is, SQLLiteral.null).orWhere("lease_until", .lessThan, now) }
                .returning(SQLLiteral.all).first()?.decode(fluentModel: WebhookEndpointModel.self)
        }
    }

    /// Extends the hold named by `token` until `until`; false when it was lost (it ran out and another worker took
    /// the endpoint, or the endpoint was disabled or deleted).
    public func renew(_ id: UUID, token: String, until: Date) async throws -> Bool {
        try await db.writeTransaction { db in
            try await db.sql.update(WebhookEndpointModel.schema).set("lease_until", to: until)
                .where("id", .equal, id).where("lease_token", .equal, token).where("enabled", .equal, true)
                .returning("id").all().count == 1
        }
    }

    /// The organization's events after `cursor`, oldest first (every type: the endpoint's cursor passes the others).
    public func events(orgID: UUID, after cursor: Int64, limit: Int) async throws -> [AuditEventModel] {
        try await AuditEventModel.query(on: db).filter(\.$orgID == orgID).filter(\.$seq > cursor).sort(\.$seq).limit(limit).all()
    }

    /// One attempt, for the log.
    public struct Attempt: Sendable {
        public var eventID: UUID
        public var eventSeq: Int64
        public var eventType: String
        public var attempt: Int
        public var delivered: Bool
        public var responseStatus: Int?
        public var durationMS: Int
        public var error: String?

        public init(eventID: UUID, eventSeq: Int64, eventType: String, attempt: Int, delivered: Bool, responseStatus: Int?, durationMS: Int, error: String?) {
            self.eventID = eventID
            self.eventSeq = eventSeq
            self.eventType = eventType
            self.attempt = attempt
            self.delivered = delivered
            self.responseStatus = responseStatus
            self.durationMS = durationMS
            self.error = error
        }
    }

    /// Where an endpoint stands after a batch.
    public enum Standing: Sendable, Equatable {
        /// Every event up to the cursor is handled; more may follow at once.
        case caughtUp
        /// The event after the cursor failed: try again at `retryAt`.
        case retry(at: Date, attempts: Int, failingSince: Date)
        /// Disabled by Roster (`gone` or `failing`); its owners are told by email.
        case disabled(reason: String)
    }

    /// Settles a batch in one transaction: the attempts into the log, the endpoint's cursor and standing; the lease
    /// is released (`keepLease`: extended instead, for the next batch). Disabling queues an email to each active owner.
    /// Only the holder of the lease settles (`endpoint.leaseToken`): false, and nothing written, when it was lost.
    @discardableResult
    public func settle(_ endpoint: WebhookEndpointModel, cursor: Int64, attempts: [Attempt], standing: Standing,
                       keepLease: TimeInterval?, now: Date) async throws -> Bool {
        guard let endpointID = endpoint.id, let token = endpoint.leaseToken else { return false }
        return try await db.writeTransaction { db in
            var update = db.sql.update(WebhookEndpointModel.schema).set("cursor", to: cursor).set("updated_at", to: now)
                .set("lease_until", to: keepLease.map { now.addingTimeInterval($0) })
            if keepLease == nil { update = update.set("lease_token", to: SQLLiteral.null) }
            switch standing {
            case .caughtUp:
                update = update.set("attempts", to: 0).set("next_attempt_at", to: SQLLiteral.null).set("failing_since", to: SQLLiteral.null)
            case .retry(let at, let count, let since):
                update = update.set("attempts", to: count).set("next_attempt_at", to: at).set("failing_since", to: since)
            case .disabled(let reason):
                update = update.set("enabled", to: false).set("disabled_reason", to: reason).set("next_attempt_at", to: SQLLiteral.null)
            }
            guard try await update.where("id", .equal, endpointID).where("lease_token", .equal, token).returning("id").all().count == 1 else {
                return false
            }
            if !attempts.isEmpty {
                var insert = db.sql.insert(into: WebhookDeliveryModel.schema)
                    .columns("id", "endpoint_id", "event_id", "event_seq", "event_type", "attempt", "status", "response_status", "duration_ms",
                             "error", "redelivery", "at")
                for attempt in attempts {
                    insert = insert.values([
                        SQLBind(TimeOrderedID.make(now: now)), SQLBind(endpointID), SQLBind(attempt.eventID), SQLBind(attempt.eventSeq),
                        SQLBind(attempt.eventType), SQLBind(attempt.attempt), SQLBind(attempt.delivered ? "delivered" : "failed"),
                        SQLBind(attempt.responseStatus), SQLBind(attempt.durationMS), SQLBind(attempt.error), SQLBind(false), SQLBind(now),
                    ] as [any SQLExpression])
                }
                try await insert.run()
            }
            if case .disabled(let reason) = standing {
                let org = try await OrganizationModel.find(endpoint.orgID, on: db)
                let owners = try await MembershipModel.query(on: db).filter(\.$orgID == endpoint.orgID).filter(\.$spaceID == nil)
                    .filter(\.$roleKey == DefaultRoles.ownerKey).filter(\.$status == MembershipStatus.active.rawValue).all()
                for owner in owners {
                    let message = EmailTemplates.webhookDisabled(to: owner.email, orgName: org?.name ?? "your organization", url: endpoint.url,
                                                                 reason: reason, orgSlug: org?.slug ?? "")
                    try await Outbox(db).enqueue(message, orgID: endpoint.orgID, membershipID: nil, now: now)
                }
                try await AuditLog(db).record(action: "webhook.disabled", actor: .system, orgID: endpoint.orgID,
                                              before: nil, after: ["url": endpoint.url, "reason": reason], requestID: nil, at: now)
            }
            return true
        }
    }

    // MARK: Redeliveries and the log

    /// Queues the event of `delivery` to be sent again (outside the endpoint's order: it was asked for).
    public func redeliver(_ delivery: WebhookDeliveryModel, now: Date) async throws -> WebhookDeliveryModel {
        let again = WebhookDeliveryModel()
        again.id = TimeOrderedID.make(now: now)
        again.endpointID = delivery.endpointID
        again.eventID = delivery.eventID
        again.eventSeq = delivery.eventSeq
        again.eventType = delivery.eventType
        again.attempt = 1
        again.status = "pending"
        again.redelivery = true
        again.at = now
        try await db.writeTransaction { try await again.create(on: $0) }
        return again
    }

    /// Pending redeliveries one endpoint may have.
    public static let maximumPendingRedeliveries = 100
    /// How long a claimed redelivery may stay `sending` before another worker takes it (its worker stopped).
    public static let redeliveryLease: TimeInterval = 300

    /// Takes one pending redelivery (consume-once; also one left `sending` by a worker that stopped), with its
    /// endpoint and event.
    public func claimRedelivery(now: Date) async throws -> (delivery: WebhookDeliveryModel, endpoint: WebhookEndpointModel, event: AuditEventModel?)? {
        let stale = now.addingTimeInterval(-Self.redeliveryLease)
        guard let pending = try await WebhookDeliveryModel.query(on: db)
            .group(.or, { $0.filter(\.$status == "pending").group(.and) { $0.filter(\.$status == "sending").filter(\.$at < stale) } })
            .sort(\.$at).first(), let id = pending.id else { return nil }
        let claimed = try await db.writeTransaction { db in
            try await db.sql.update(WebhookDeliveryModel.schema).set("status", to: "sending").set("at", to: now)
                .where("id", .equal, id)
                .where { $0.where("status", .equal, "pending").orWhere { $0.where("status", .equal, "sending").where("at", .lessThan, stale) } }
                .returning("id").all().count == 1
        }
        guard claimed, let endpoint = try await WebhookEndpointModel.find(pending.endpointID, on: db) else { return nil }
        let event = try await AuditEventModel.find(pending.eventID, on: db)
        return (pending, endpoint, event)
    }

    /// Redeliveries of the endpoint not yet sent.
    public func pendingRedeliveries(endpointID: UUID) async throws -> Int {
        try await WebhookDeliveryModel.query(on: db).filter(\.$endpointID == endpointID).filter(\.$status ~~ ["pending", "sending"]).count()
    }

    /// Records the outcome of a redelivery.
    public func settleRedelivery(_ id: UUID, delivered: Bool, responseStatus: Int?, durationMS: Int, error: String?, now: Date) async throws {
        try await db.writeTransaction { db in
            try await db.sql.update(WebhookDeliveryModel.schema)
                .set("status", to: delivered ? "delivered" : "failed").set("response_status", to: responseStatus)
                .set("duration_ms", to: durationMS).set("error", to: error).set("at", to: now)
                .where("id", .equal, id).run()
        }
    }

    /// One attempt of the endpoint's log.
    public func delivery(_ id: UUID, endpointID: UUID) async throws -> WebhookDeliveryModel? {
        try await WebhookDeliveryModel.query(on: db).filter(\.$id == id).filter(\.$endpointID == endpointID).first()
    }

    /// A page of the endpoint's log, newest first.
    public func deliveries(endpointID: UUID, before cursor: UUID?, limit: Int) async throws -> (items: [WebhookDeliveryModel], next: UUID?) {
        var query = WebhookDeliveryModel.query(on: db).filter(\.$endpointID == endpointID)
        if let cursor { query = query.filter(\.$id < cursor) }
        let page = try await query.sort(\.$id, .descending).limit(limit + 1).all()
        let items = Array(page.prefix(limit))
        return (items, page.count > limit ? items.last?.id : nil)
    }

    /// How long the delivery log keeps an attempt.
    public static let logRetention: TimeInterval = 30 * 86_400

    /// Removes log entries older than `before` (the minute sweep; the log keeps `logRetention`).
    public func trimLog(before: Date) async throws {
        try await db.writeTransaction { db in
            try await db.sql.delete(from: WebhookDeliveryModel.schema).where("at", .lessThan, before)
                .where("status", .notEqual, "pending").where("status", .notEqual, "sending").run()
        }
    }
}

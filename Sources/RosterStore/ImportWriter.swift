import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// A bind for a present value, SQL NULL for an absent one. Binding an `Optional` directly sends it through the
/// generic `Encodable` path (slow for dates, which then pass through a JSON encoder).
func bindOrNull<T: Encodable & Sendable>(_ value: T?) -> any SQLExpression {
    value.map { SQLBind($0) } ?? SQLLiteral.null
}

/// Reads the snapshot an import is planned against, and applies the plan with batched SQL.
public struct ImportWriter: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// The live rows of a scope, as the planner sees them.
    public func snapshot(scopeID: UUID) async throws -> [RosterSnapshotRow] {
        let rows = try await db.sql.select().column("*").from(MembershipModel.schema)
            .where("scope_id", .equal, scopeID)
            .where("status", .in, MembershipStatus.live.map(\.rawValue))
            .all(decoding: MembershipRow.self)
        return rows.map { row in
            RosterSnapshotRow(id: row.id, email: row.email, status: MembershipStatus(rawValue: row.status) ?? .active,
                              source: MembershipSource(rawValue: row.source) ?? .direct, roleKey: row.roleKey, name: row.name,
                              externalID: row.externalID, attributes: row.attributeValues, deliveryFailedPermanently: row.deliveryStatus == "failed_permanent")
        }
    }

    /// The accounts among `emails` whose email is verified (email → id).
    public func verifiedAccounts(among emails: [String]) async throws -> [String: UUID] {
        var found: [String: UUID] = [:]
        for chunk in stride(from: 0, to: emails.count, by: 1000).map({ Array(emails[$0..<min($0 + 1000, emails.count)]) }) {
            let rows = try await db.sql.select().column("id").column("email").from(AccountModel.schema)
                .where("email", .in, chunk).where("email_verified_at", .isNot, SQLLiteral.null).all()
            for row in rows { found[try row.decode(column: "email", as: String.self)] = try row.decode(column: "id", as: UUID.self) }
        }
        return found
    }

    /// Stores a report (its summary and its failed rows as CSV) and returns its id.
    public func store(_ report: ImportReport, scope: ScopeRef, actor: AuditActor, at now: Date) async throws -> UUID {
        let id = TimeOrderedID.make(now: now)
        let summary = String(decoding: try JSONEncoder().encode(report.summary), as: UTF8.self)
        try await db.sql.insert(into: "imports")
            .columns("id", "org_id", "space_id", "scope_id", "actor_type", "actor_id", "dry_run", "created_at", "summary", "failures_csv")
            .values(SQLBind(id), SQLBind(scope.orgID), bindOrNull(scope.spaceID), SQLBind(scope.scopeID), SQLBind(actor.type),
                    bindOrNull(actor.id), SQLBind(report.dryRun), SQLBind(now), SQLBind(summary), SQLBind(report.failuresCSV))
            .run()
        return id
    }

    /// The failures CSV of a stored report of this scope, or nil.
    public func failuresCSV(importID: UUID, scopeID: UUID) async throws -> String? {
        try await db.sql.select().column("failures_csv").from("imports")
            .where("id", .equal, importID).where("scope_id", .equal, scopeID)
            .first(decoding: FailuresRow.self)?.failures_csv
    }

    private struct FailuresRow: Decodable { var failures_csv: String }

    /// One new membership row, fully decided.
    public struct NewMembership: Sendable {
        public var id: UUID
        public var row: ImportPlan.NewRow
        public var accountID: UUID?
        public var tokenHash: String?
        public var expiresAt: Date?
        public var email: QueuedEmail?

        public init(id: UUID, row: ImportPlan.NewRow, accountID: UUID?, tokenHash: String?, expiresAt: Date?, email: QueuedEmail?) {
            self.id = id
            self.row = row
            self.accountID = accountID
            self.tokenHash = tokenHash
            self.expiresAt = expiresAt
            self.email = email
        }
    }

    /// Inserts the new rows (with their audit events and invitation emails) and applies the changes,
    /// in batches, inside the caller's transaction.
    public func apply(
        newRows: [NewMembership], changes: [ImportPlan.Change], scope: ScopeRef, actor: AuditActor, invitedBy: UUID?,
        requestID: String?, now: Date
    ) async throws {
        let json = MembershipRow.encodeAttributes
        for chunk in stride(from: 0, to: newRows.count, by: 500).map({ newRows[$0..<min($0 + 500, newRows.count)] }) {
            var insert = db.sql.insert(into: MembershipModel.schema).columns(
                "id", "org_id", "space_id", "scope_id", "account_id", "email", "name", "role_key", "status", "source", "external_id",
                "attributes", "invited_by", "token_hash", "expires_at", "delivery_status", "created_at", "updated_at")
            var audit = db.sql.insert(into: AuditEventModel.schema).columns(
                "id", "at", "actor_type", "actor_id", "action", "org_id", "space_id", "membership_id", "target_account_id", "target_email", "after", "request_id")
            var outbox = db.sql.insert(into: OutboxMessageModel.schema).columns(
                "id", "kind", "org_id", "membership_id", "recipient", "subject", "text_body", "html_body", "payload", "status", "attempts", "next_attempt_at", "created_at")
            var emails = 0
            for new in chunk {
                let r = new.row
                let status = r.active ? MembershipStatus.active : .pending
                let source = r.active ? MembershipSource.direct : .invitation
                insert = insert.values(
                    SQLBind(new.id), SQLBind(scope.orgID), bindOrNull(scope.spaceID), SQLBind(scope.scopeID), bindOrNull(new.accountID), SQLBind(r.email),
                    bindOrNull(r.name), SQLBind(r.roleKey), SQLBind(status.rawValue), SQLBind(source.rawValue), bindOrNull(r.externalID),
                    SQLBind(json(r.attributes)), bindOrNull(invitedBy), bindOrNull(new.tokenHash), bindOrNull(new.expiresAt),
                    bindOrNull(r.active ? nil : "queued"), SQLBind(now), SQLBind(now))
                var after = ["status": status.rawValue, "source": source.rawValue, "role": r.roleKey]
                if let externalID = r.externalID { after["external_id"] = externalID }
                audit = audit.values(
                    SQLBind(TimeOrderedID.make(now: now)), SQLBind(now), SQLBind(actor.type), bindOrNull(actor.id),
                    SQLBind((r.active ? MembershipEvent.added : .invited).rawValue), SQLBind(scope.orgID), bindOrNull(scope.spaceID), SQLBind(new.id),
                    bindOrNull(new.accountID), SQLBind(r.email), SQLBind(AuditLog.json(after)), bindOrNull(requestID))
                if let email = new.email {
                    emails += 1
                    outbox = outbox.values(
                        SQLBind(UUID()), SQLBind(email.kind.rawValue), SQLBind(scope.orgID), SQLBind(new.id), SQLBind(email.to), SQLBind(email.subject),
                        SQLBind(""), SQLBind(""), SQLBind(email.payload), SQLBind("queued"), SQLBind(0), SQLBind(now), SQLBind(now))
                }
            }
            try await insert.run()
            try await audit.run()
            if emails > 0 { try await outbox.run() }
        }
        // External IDs move in two steps so that swaps never collide in the unique index.
        let moving = changes.filter { $0.externalID != nil }.map(\.id)
        for chunk in stride(from: 0, to: moving.count, by: 500).map({ Array(moving[$0..<min($0 + 500, moving.count)]) }) {
            try await db.sql.update(MembershipModel.schema).set("external_id", to: SQLLiteral.null).where("id", .in, chunk).run()
        }
        for change in changes {
            var update = db.sql.update(MembershipModel.schema)
                .set("external_id", to: change.externalID).set("attributes", to: json(change.attributes)).set("updated_at", to: now)
            if let role = change.activateWithRole { update = update.set("status", to: MembershipStatus.active.rawValue).set("role_key", to: role) }
            try await update.where("id", .equal, change.id).run()
            var after = ["attributes": json(change.attributes)]
            if let externalID = change.externalID { after["external_id"] = externalID }
            if let role = change.activateWithRole { after["status"] = "active"; after["role"] = role }
            try await AuditLog(db).record(action: change.activateWithRole != nil ? MembershipEvent.mutualIntent.rawValue : MembershipEvent.updated.rawValue,
                                          actor: actor, orgID: scope.orgID, spaceID: scope.spaceID, membershipID: change.id,
                                          before: nil, after: after, requestID: requestID, at: now)
        }
    }
}

import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

extension MembershipStore {
    /// Applies `plan` (inside the caller's `writeTransaction`, under the organization's lock): guarded updates in plan
    /// order, then the plain endings (no changes, no guards; batched by status, source and end status), then new rows,
    /// emails, audit events and deletions. So a plan may free a unique key by a guarded update or an ending and
    /// claim it with a new row, but must not claim by a guarded update what an ending frees. A guarded update that finds its row changed throws
    /// `plan.lostRace`, so the whole transaction rolls back. Returns the rows written, by id.
    /// `alongside` are a door's own writes that go with the plan (a SCIM user), in the same statement on PostgreSQL.
    @discardableResult
    public func apply(_ plan: MembershipPlan, now: Date, requestID: String?, alongside: [any SQLExpression] = []) async throws -> [UUID: MembershipModel] {
        var written: [UUID: MembershipModel] = [:]
        var bulk: [BulkEnding: [UUID]] = [:]
        for update in plan.updates {
            if update.set == MembershipChanges(), update.guards.isEmpty, !update.to.isLive {
                bulk[BulkEnding(from: update.from, source: update.source, to: update.to), default: []].append(update.id)
                continue
            }
            guard let row = try await transition(update, now: now) else { throw plan.lostRace }
            written[update.id] = row
        }
        for (ending, ids) in bulk.sorted(by: { $0.key.sortKey < $1.key.sortKey }) {
            try await end(ids, ending, now: now, lostRace: plan.lostRace)
        }
        if let linkID = plan.useLink {
            // One use, counted atomically: never more joins than the link allows, however many arrive at once.
            let used = try await db.sql.update(InviteLinkModel.schema).set("uses", to: SQLRaw("uses + 1"))
                .where("id", .equal, linkID).where("revoked_at", .is, SQLLiteral.null)
                .where { $0.where("max_uses", .is, SQLLiteral.null).orWhere("uses", .lessThan, SQLColumn("max_uses")) }
                .where { $0.where("expires_at", .is, SQLLiteral.null).orWhere("expires_at", .greaterThan, now) }
                .returning("id").all()
            if used.isEmpty { throw plan.lostRace }
        }
        // Superseded emails first: a resend's new email is not among them.
        if !plan.supersede.isEmpty { try await Outbox(db).supersede(membershipIDs: plan.supersede) }
        // New accounts, rows, emails and audit events: one statement on PostgreSQL.
        var added = AddedPlans(db)
        written.merge(try await added.add(plan, now: now, requestID: requestID, alongside: alongside)) { $1 }
        try await added.write()
        if let accountID = plan.verifyEmailOf {
            try await db.sql.update(AccountModel.schema).set("email_verified_at", to: now)
                .where("id", .equal, accountID).where("email_verified_at", .is, SQLLiteral.null).run()
        }
        if let spaceID = plan.deleteSpace {
            try await db.sql.update(SpaceModel.schema).set("deleted_at", to: now).where("id", .equal, spaceID).run()
        }
        for orgID in plan.deleteOrganizations {
            try await db.sql.update(OrganizationModel.schema).set("deleted_at", to: now).where("id", .equal, orgID).run()
            // A deleted organization holds no domain: another may verify it.
            try await db.sql.delete(from: OrganizationDomainModel.schema).where("org_id", .equal, orgID).run()
        }
        if let accountID = plan.deleteAccount {
            try await AccountModel.query(on: db).filter(\.$id == accountID).delete()
        }
        return written
    }

    /// The consume-once transition of DESIGN §2 invariant 6: `UPDATE … WHERE id = ? AND status = ? AND source = ?
    /// … RETURNING *`. Returns the updated row, or nil when the row is no longer what the decision saw.
    public func transition(_ update: MembershipPlan.Update, now: Date) async throws -> MembershipModel? {
        try await transitionQuery(update, now: now).all().first?.decode(fluentModel: MembershipModel.self)
    }

    /// The statement of `transition(_:now:)` (pinned in tests).
    public func transitionQuery(_ update: MembershipPlan.Update, now: Date) -> SQLReturningResultBuilder<SQLUpdateBuilder> {
        var query = db.sql.update(MembershipModel.schema)
            .set("status", to: update.to.rawValue)
            .set("updated_at", to: now)
        if !update.to.isLive { query = query.set("ended_at", to: now) }
        let set = update.set
        if set.reopen { query = query.set("ended_at", to: SQLLiteral.null) }
        if let roleKey = set.roleKey { query = query.set("role_key", to: roleKey) }
        if let externalID = set.externalID { query = query.set("external_id", to: externalID) }
        if let attributes = set.attributes { query = query.set("attributes", to: MembershipRow.encodeAttributes(attributes)) }
        if let name = set.name { query = query.set("name", to: name) }
        if let accountID = set.accountID { query = query.set("account_id", to: accountID) }
        if let tokenHash = set.tokenHash { query = query.set("token_hash", to: tokenHash) }
        if let expiresAt = set.expiresAt { query = query.set("expires_at", to: expiresAt) }
        if let deliveryStatus = set.deliveryStatus { query = query.set("delivery_status", to: deliveryStatus) }
        if let deliveryAt = set.deliveryAt { query = query.set("delivery_at", to: deliveryAt) }
        query = query.where("id", .equal, update.id)
            .where("status", .equal, update.from.rawValue)
            .where("source", .equal, update.source.rawValue)
        for condition in update.guards {
            switch condition {
            case .expiresAfter(let date): query = query.where("expires_at", .greaterThan, date)
            case .expiredBy(let date): query = query.where("expires_at", .lessThanOrEqual, date)
            case .email(let email): query = query.where("email", .equal, email)
            case .account(let id): query = query.where("account_id", .equal, id)
            case .tokenHash(let hash): query = query.where("token_hash", .equal, hash)
            }
        }
        return query.returning(SQLLiteral.all)
    }

    /// Bulk endings (an organization's, a space's or an account's rows) in statements of up to 500 rows each.
    private func end(_ ids: [UUID], _ ending: BulkEnding, now: Date, lostRace: RosterError) async throws {
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(start + 500, ids.count)])
            start += chunk.count
            let ended = try await db.sql.update(MembershipModel.schema)
                .set("status", to: ending.to.rawValue).set("updated_at", to: now).set("ended_at", to: now)
                .where("id", .in, chunk)
                .where("status", .equal, ending.from.rawValue)
                .where("source", .equal, ending.source.rawValue)
                .returning("id").all()
            if ended.count != chunk.count { throw lostRace }
        }
    }
}

/// What plans add (new accounts, rows, emails, audit events and a door's own rows), written together: in one
/// statement on PostgreSQL (`WriteBatch`: rows of one table in one `INSERT`, the events of one organization numbered
/// from one reservation), one statement after the other on SQLite. `MembershipStore.apply` writes a plan's additions
/// so; `ProvisioningQueue` writes those of several plans of one organization that only add (`MembershipPlan.onlyAdds`)
/// so, in one round trip under the organization's lock.
public struct AddedPlans {
    private var batch: WriteBatch
    /// Plans added since the last `write`.
    private var plans = 0
    /// Whether one of them changes access (`MembershipPlan.changesAccess`): the statement then notifies.
    private var changesAccess = false

    public init(_ db: any Database) { batch = WriteBatch(db) }

    /// Adds the additions of `plan` (applied at `now`), with `alongside` (a door's own statements); returns the rows
    /// it inserts, by id, as they will be once `write` ran.
    public mutating func add(_ plan: MembershipPlan, now: Date, requestID: String?,
                             alongside: [any SQLExpression] = []) async throws -> [UUID: MembershipModel] {
        plans += 1
        if plan.changesAccess {
            WriteTransactionScope.accessChanges?.note()
            changesAccess = true
        }
        for account in plan.accounts {
            batch.add(SQLInsert.row(into: AccountModel.schema, [
                "id": SQLBind(account.id), "email": SQLBind(account.email), "name": SQLBind(account.name),
                "password_hash": SQLBind(account.passwordHash), "email_verified_at": SQLBind(now), "is_platform_admin": SQLBind(false),
                "created_at": SQLBind(now), "updated_at": SQLBind(now),
            ]))
        }
        var written: [UUID: MembershipModel] = [:]
        for new in plan.inserts {
            let row = MembershipModel(new, now: now)
            batch.add(row.insertStatement)
            row.$id.exists = true
            written[new.id] = row
        }
        for email in plan.emails {
            batch.add(Outbox.insertStatement(email.message, orgID: email.orgID, membershipID: email.membershipID, now: now, budgetSlot: email.sendAt))
        }
        try await AuditLog(batch.db).record(plan.audit, requestID: requestID, at: now, joining: &batch)
        for statement in alongside { batch.add(statement) }
        return written
    }

    /// Writes what was added (and empties the batch); a single plan's as a prepared statement.
    public mutating func write() async throws {
        // (Set only now: a statement `AuditLog.record` runs on its own along the way does not notify.)
        batch.notifies = changesAccess && WriteTransactionScope.accessChanges != nil
        if try await batch.run(prepared: plans <= 1) { WriteTransactionScope.accessChanges?.noteNotified() }
        (plans, changesAccess) = (0, false)
    }
}

/// Rows ended together: the same status, source and end status.
private struct BulkEnding: Hashable {
    var from: MembershipStatus
    var source: MembershipSource
    var to: MembershipStatus
    var sortKey: String { "\(from.rawValue) \(source.rawValue) \(to.rawValue)" }
}

extension MembershipModel {
    /// The row a plan inserts, created at `now`.
    convenience init(_ new: MembershipPlan.NewRow, now: Date) {
        self.init(scope: new.scope, email: new.email, name: new.name, roleKey: new.roleKey, status: new.status, source: new.source,
                  accountID: new.accountID, externalID: new.externalID, attributes: MembershipRow.encodeAttributes(new.attributes), now: now)
        id = new.id
        invitedBy = new.invitedBy
        tokenHash = new.tokenHash
        expiresAt = new.expiresAt
        deliveryStatus = new.deliveryStatus
        deliveryAt = new.deliveryAt
        message = new.message
        inviteLinkID = new.inviteLinkID
    }

    /// The statement inserting this row, every column as set (`SQLInsert.row`; without Fluent's reflection).
    var insertStatement: SQLInsert {
        SQLInsert.row(into: Self.schema, [
            "id": SQLBind(id), "org_id": SQLBind(orgID), "space_id": SQLBind(spaceID), "scope_id": SQLBind(scopeID),
            "account_id": SQLBind(accountID), "email": SQLBind(email), "name": SQLBind(name), "role_key": SQLBind(roleKey),
            "status": SQLBind(status), "source": SQLBind(source), "external_id": SQLBind(externalID), "attributes": SQLBind(attributes),
            "invited_by": SQLBind(invitedBy), "token_hash": SQLBind(tokenHash), "expires_at": SQLBind(expiresAt), "message": SQLBind(message),
            "delivery_status": SQLBind(deliveryStatus), "delivery_at": SQLBind(deliveryAt), "delivery_error": SQLBind(deliveryError),
            "created_at": SQLBind(createdAt), "updated_at": SQLBind(updatedAt), "ended_at": SQLBind(endedAt),
            "invite_link_id": SQLBind(inviteLinkID),
        ])
    }

    /// The row as the lifecycle decides on it.
    public var facts: MembershipFacts {
        MembershipFacts(id: id, scope: ScopeRef(orgID: orgID, spaceID: spaceID),
                        status: MembershipStatus(rawValue: status) ?? .removed, source: MembershipSource(rawValue: source) ?? .direct,
                        roleKey: roleKey, accountID: accountID, email: email, name: name, externalID: externalID,
                        attributes: MembershipRow.decodeAttributes(attributes), expiresAt: expiresAt)
    }
}

extension SCIMUserModel {
    /// The statement inserting this user, every column as set (`SQLInsert.row`).
    public var insertStatement: SQLInsert {
        SQLInsert.row(into: Self.schema, [
            "id": SQLBind(id), "org_id": SQLBind(orgID), "user_name": SQLBind(userName), "external_id": SQLBind(externalID),
            "given_name": SQLBind(givenName), "family_name": SQLBind(familyName), "display_name": SQLBind(displayName),
            "active": SQLBind(active), "membership_id": SQLBind(membershipID), "created_at": SQLBind(createdAt), "updated_at": SQLBind(updatedAt),
        ])
    }
}

extension SQLInsert {
    /// `INSERT INTO table (columns…) VALUES (values…)` of one row, columns in a fixed order.
    static func row(into table: String, _ values: KeyValuePairs<String, any SQLExpression>) -> SQLInsert {
        var insert = SQLInsert(table: SQLIdentifier(table))
        insert.columns = values.map { SQLIdentifier($0.key) }
        insert.values = [values.map(\.value)]
        return insert
    }
}

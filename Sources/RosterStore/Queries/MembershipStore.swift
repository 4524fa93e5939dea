import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// Reads and atomic writes of membership rows. Every write method expects to run inside `writeTransaction`.
public struct MembershipStore: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    // MARK: Reads

    /// The roles of one ladder of an organization.
    /// (Plain SQL, without Fluent's reflection of models: read with most decisions.)
    public func ladder(orgID: UUID, _ ladder: Ladder) async throws -> RoleLadder {
        let rows = try await db.preparedSQL.select().columns("key", "name", "rank", "permissions").from(RoleModel.schema)
            .where("org_id", .equal, orgID).where("ladder", .equal, ladder.rawValue).all()
        return RoleLadder(ladder, roles: try rows.map { row in
            RoleModel.definition(key: try row.decode(column: "key", as: String.self), name: try row.decode(column: "name", as: String.self),
                                 rank: try row.decode(column: "rank", as: Int.self),
                                 permissions: try row.decode(column: "permissions", as: String.self))
        })
    }

    /// The active role key of `accountID` on the roster `scopeID`, if any.
    public func activeRoleKey(accountID: UUID, scopeID: UUID) async throws -> String? {
        try await db.sql.select().column("role_key").from(MembershipModel.schema)
            .where("scope_id", .equal, scopeID)
            .where("account_id", .equal, accountID)
            .where("status", .equal, MembershipStatus.active.rawValue)
            .first()?.decode(column: "role_key", as: String.self)
    }

    /// The live row of the scope held by `email` or by `accountID`.
    public func liveRow(scopeID: UUID, email: String, accountID: UUID? = nil) async throws -> MembershipModel? {
        try await MembershipModel.query(on: db)
            .filter(\.$scopeID == scopeID)
            .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue))
            .group(.or) { group in
                group.filter(\.$email == email)
                if let accountID { group.filter(\.$accountID == accountID) }
            }
            .first()
    }

    /// One membership row of a scope by id, in any status.
    public func row(id: UUID, scopeID: UUID) async throws -> MembershipModel? {
        try await MembershipModel.query(on: db).filter(\.$id == id).filter(\.$scopeID == scopeID).first()
    }

    /// Live rows (active plus pending) of a scope, for seat limits.
    public func liveCount(scopeID: UUID) async throws -> Int {
        try await MembershipModel.query(on: db)
            .filter(\.$scopeID == scopeID)
            .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue))
            .count()
    }

    /// Active rows of an organization's own roster, and how many of them hold `owner`.
    public func activeCounts(orgID: UUID) async throws -> (members: Int, owners: Int) {
        let rows = try await db.sql.select()
            .column(SQLFunction("COUNT", args: SQLLiteral.all), as: "members")
            .column(SQLRaw("COALESCE(SUM(CASE WHEN role_key = '\(DefaultRoles.ownerKey)' THEN 1 ELSE 0 END), 0)"), as: "owners")
            .from(MembershipModel.schema)
            .where("scope_id", .equal, orgID)
            .where("status", .equal, MembershipStatus.active.rawValue)
            .first()
        return (try rows?.decode(column: "members", as: Int.self) ?? 0, try rows?.decode(column: "owners", as: Int.self) ?? 0)
    }

    // MARK: Writes (inside a transaction)

    /// Serializes roster writes of one organization: on PostgreSQL a row lock on the organization,
    /// on SQLite the `BEGIN IMMEDIATE` write lock already held. Last-owner and seat-limit checks rely on it.
    /// Refuses with 404 when the organization was deleted meanwhile.
    public func lockOrganization(_ orgID: UUID) async throws {
        guard try await db.preparedSQL.raw(lockQuery(orgID)).first() != nil else { throw RosterError.notFound }
    }

    /// The statement of `lockOrganization(_:)` (pinned in tests).
    public func lockQuery(_ orgID: UUID) -> SQLQueryString {
        let lock = SQLBackend(db) == .postgres ? " FOR UPDATE" : ""
        return "SELECT \(unsafeRaw: OrganizationModel.columnList) FROM organizations WHERE id = \(bind: orgID) AND deleted_at IS NULL\(unsafeRaw: lock)"
    }

    /// `lockOrganization(_:)`, reading with it what every decision on the organization reads under its lock: its row,
    /// `ladder`, and whether it verified `domain` (when given).
    ///
    /// In the lock's own statement, which on PostgreSQL sees the organization's row as the lock found it but other
    /// tables as they were before it waited: the roles and domains read there are used only when the rules' version
    /// the statement saw is the locked row's (`AddRulesVersion`), and read again in statements of their own when a
    /// change committed while it waited.
    public func lockedOrganization(_ orgID: UUID, ladder: Ladder, domain: String?) async throws -> LockedOrganization {
        let rows = try await db.preparedSQL.raw(lockQuery(orgID, ladder: ladder, domain: domain)).all()
        guard let first = rows.first else { throw RosterError.notFound }
        let org = try first.decode(fluentModel: OrganizationModel.self)
        guard try first.decode(column: "rules_version", as: Int.self) == first.decode(column: "rules_version_read", as: Int.self) else {
            var verified: Bool?
            if let domain { verified = try await domainVerified(orgID: orgID, domain: domain) }
            return LockedOrganization(org: org, ladder: try await self.ladder(orgID: orgID, ladder), domainVerified: verified)
        }
        let roles = try rows.compactMap { row in
            try row.decode(column: "role_key", as: String?.self).map { key in
                RoleModel.definition(key: key, name: try row.decode(column: "role_name", as: String.self),
                                     rank: try row.decode(column: "role_rank", as: Int.self),
                                     permissions: try row.decode(column: "role_permissions", as: String.self))
            }
        }
        return LockedOrganization(org: org, ladder: RoleLadder(ladder, roles: roles),
                                  domainVerified: domain == nil ? nil : try first.decode(column: "domain_verified", as: Bool.self))
    }

    /// The statement of `lockedOrganization(_:ladder:domain:)` (pinned in tests): a row per role of the ladder.
    public func lockQuery(_ orgID: UUID, ladder: Ladder, domain: String?) -> SQLQueryString {
        var query: SQLQueryString = """
            SELECT \(unsafeRaw: OrganizationModel.columnList), organizations.rules_version AS rules_version, \
            (SELECT seen.rules_version FROM organizations AS seen WHERE seen.id = organizations.id) AS rules_version_read, \
            roles.key AS role_key, roles.name AS role_name, roles.rank AS role_rank, roles.permissions AS role_permissions
            """
        if let domain {
            query += """
                , EXISTS (SELECT 1 FROM organization_domains WHERE organization_domains.org_id = organizations.id \
                AND organization_domains.domain = \(bind: domain) AND organization_domains.verified_at IS NOT NULL) AS domain_verified
                """
        }
        query += """
             FROM organizations LEFT JOIN roles ON roles.org_id = organizations.id AND roles.ladder = \(bind: ladder.rawValue) \
            WHERE organizations.id = \(bind: orgID) AND organizations.deleted_at IS NULL
            """
        if SQLBackend(db) == .postgres { query += " FOR UPDATE OF organizations" }
        return query
    }

    /// Whether the organization verified `domain`.
    public func domainVerified(orgID: UUID, domain: String) async throws -> Bool {
        try await db.preparedSQL.select().column("id").from(OrganizationDomainModel.schema)
            .where("org_id", .equal, orgID).where("domain", .equal, domain).where("verified_at", .isNot, SQLLiteral.null)
            .first() != nil
    }

    /// Expires the pending invitations of a scope whose time is up, each through `Lifecycle.decide(.expire)`: a
    /// guarded transition and its audit event. Runs inside a write transaction that holds the organization's lock.
    /// A row the engine or the guard finds not due after all (at the boundary of `now`) is left for the next sweep:
    /// an expiry never fails the command it runs before. Returns how many expired.
    @discardableResult
    public func expireInvitations(scopeID: UUID, now: Date) async throws -> Int {
        let due = try await MembershipModel.query(on: db)
            .filter(\.$scopeID == scopeID)
            .filter(\.$status == MembershipStatus.pending.rawValue)
            .filter(\.$source == MembershipSource.invitation.rawValue)
            .filter(\.$expiresAt <= now)
            .limit(1000).all()
        var expired = 0
        for row in due {
            guard let id = row.id, let expiry = try? Lifecycle.decide(.expire(id), facts: .sweep(of: row.facts), now: now, fresh: .unused),
                  let update = expiry.updates.first, try await transition(update, now: now) != nil else { continue }
            try await AuditLog(db).record(expiry.audit, requestID: nil, at: now)
            expired += 1
        }
        return expired
    }
}

/// What `MembershipStore.lockedOrganization(_:ladder:domain:)` read under the organization's lock.
public struct LockedOrganization: Sendable {
    public let org: OrganizationModel
    public let ladder: RoleLadder
    /// Whether the organization verified the domain asked about (nil when none was).
    public let domainVerified: Bool?
}

extension RoleModel {
    /// The role as the rules see it.
    public var definition: RoleDefinition {
        Self.definition(key: key, name: name, rank: rank, permissions: permissions)
    }

    /// The role of these columns (permissions comma-separated).
    static func definition(key: String, name: String, rank: Int, permissions: String) -> RoleDefinition {
        RoleDefinition(key: key, name: name, rank: rank,
                       permissions: Set(permissions.split(separator: ",").compactMap { Permission(rawValue: String($0)) }))
    }

    /// A row for `role` of `ladder` in `orgID`.
    public convenience init(orgID: UUID, ladder: Ladder, role: RoleDefinition) {
        self.init()
        self.orgID = orgID
        self.ladder = ladder.rawValue
        self.key = role.key
        self.name = role.name
        self.rank = role.rank
        self.permissions = role.permissions.sorted().map(\.rawValue).joined(separator: ",")
    }
}

/// The numbers of an organization's events, in commit order: `reserve` takes the next ones from the organization's
/// row (`event_seq`), which locks the row until the transaction ends (PostgreSQL; SQLite's writers are one at a
/// time), so a later number is never committed before an earlier one. Readers who have seen number N have seen all
/// before it — the events feed and the webhook cursors rely on it.
public struct EventSequence: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Reserves `count` numbers for `orgID`'s events and returns the first (nil for an organization that does not exist).
    public func reserve(_ count: Int, orgID: UUID) async throws -> Int64? {
        guard count > 0 else { return nil }
        let row = try await db.sql.raw(Self.statement(count, orgID: orgID)).first()
        return try row.map { try $0.decode(column: "previous", as: Int64.self) + 1 }
    }

    /// The statement reserving `count` numbers: it returns the number before the first (`previous`).
    static func statement(_ count: Int, orgID: UUID) -> SQLQueryString {
        "UPDATE organizations SET event_seq = event_seq + \(bind: count) WHERE id = \(bind: orgID) RETURNING event_seq - \(bind: count) AS previous"
    }
}

/// Appends audit events.
public struct AuditLog: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Records `entries` (a plan's audit events) in multi-row statements, each numbered in its organization
    /// (`EventSequence`).
    public func record(_ entries: [MembershipPlan.AuditEntry], requestID: String?, at: Date) async throws {
        var batch = WriteBatch(db)
        try await record(entries, requestID: requestID, at: at, joining: &batch)
        try await batch.run()
    }

    /// Records `entries` with `batch`. When the batch is one statement (PostgreSQL), a few events of one
    /// organization join it and take their numbers in it (`WriteBatch.eventNumber`).
    /// Otherwise the batch runs first, then the numbers are reserved and the events written in statements of up to
    /// 500 rows (many events, e.g. an organization's deletion, would pass the 65,535 parameters of one statement).
    func record(_ entries: [MembershipPlan.AuditEntry], requestID: String?, at: Date, joining batch: inout WriteBatch) async throws {
        guard !entries.isEmpty else { return }
        var numbers = [any SQLExpression](repeating: SQLLiteral.null, count: entries.count)
        let orgIDs = Set(entries.map(\.scope.orgID))
        let joining = batch.joins && entries.count <= 50 && orgIDs.count == 1
        if joining, let orgID = orgIDs.first {
            for index in entries.indices { numbers[index] = batch.eventNumber(orgID: orgID) }
        } else {
            try await batch.run()
            // Organizations in a fixed order, so that two transactions numbering the same ones cannot deadlock.
            for (orgID, indices) in Dictionary(grouping: entries.indices, by: { entries[$0].scope.orgID }).sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
                guard let first = try await EventSequence(db).reserve(indices.count, orgID: orgID) else { continue }
                for (offset, index) in indices.enumerated() { numbers[index] = SQLBind(first + Int64(offset)) }
            }
        }
        var start = 0
        while start < entries.count {
            let range = start..<min(start + 500, entries.count)
            start = range.upperBound
            var insert = SQLInsert(table: SQLIdentifier(AuditEventModel.schema))
            insert.columns = ["id", "at", "actor_type", "actor_id", "action", "org_id", "space_id", "membership_id", "target_account_id",
                              "target_email", "before", "after", "request_id", "seq"].map { SQLIdentifier($0) }
            insert.values = range.map { index in
                let entry = entries[index]
                return [
                    SQLBind(TimeOrderedID.make(now: at)), SQLBind(at), SQLBind(entry.actor.type), SQLBind(entry.actor.id), SQLBind(entry.action),
                    SQLBind(entry.scope.orgID), SQLBind(entry.scope.spaceID), SQLBind(entry.membershipID), SQLBind(entry.targetAccountID),
                    SQLBind(entry.targetEmail), SQLBind(entry.before.map(Self.json)), SQLBind(entry.after.map(Self.json)), SQLBind(requestID),
                    numbers[index],
                ]
            }
            if joining { batch.add(insert) } else { try await db.sql.execute(sql: insert) { _ in } }
        }
    }

    /// Records any event on an organization.
    public func record(
        action: String, actor: AuditActor, orgID: UUID, spaceID: UUID? = nil, membershipID: UUID? = nil,
        targetAccountID: UUID? = nil, targetEmail: String? = nil,
        before: [String: String]?, after: [String: String]?, requestID: String?, at: Date
    ) async throws {
        try await record([MembershipPlan.AuditEntry(action: action, actor: actor, scope: ScopeRef(orgID: orgID, spaceID: spaceID),
                                                    membershipID: membershipID, targetAccountID: targetAccountID, targetEmail: targetEmail,
                                                    before: before, after: after)],
                         requestID: requestID, at: at)
    }

    static func json(_ state: [String: String]) -> String {
        JSONText.object(state)
    }
}

/// Queues emails in the current transaction.
public struct Outbox: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Queues `message` (rendered when delivered); `orgID` and `membershipID` tie it to what caused it (its delivery
    /// status). An invitation's `budgetSlot` is when its organization's budget lets it go (`InvitationBudget`).
    public func enqueue(_ message: QueuedEmail, orgID: UUID?, membershipID: UUID?, now: Date, budgetSlot: Date? = nil) async throws {
        try await db.sql.execute(sql: Self.insertStatement(message, orgID: orgID, membershipID: membershipID, now: now, budgetSlot: budgetSlot)) { _ in }
    }

    /// The statement of `enqueue`.
    static func insertStatement(_ message: QueuedEmail, orgID: UUID?, membershipID: UUID?, now: Date, budgetSlot: Date?) -> SQLInsert {
        SQLInsert.row(into: OutboxMessageModel.schema, [
            "id": SQLBind(UUID()), "kind": SQLBind(message.kind.rawValue), "org_id": SQLBind(orgID), "membership_id": SQLBind(membershipID),
            "recipient": SQLBind(message.to), "subject": SQLBind(message.subject), "text_body": SQLBind(""), "html_body": SQLBind(""),
            "payload": SQLBind(message.payload), "status": SQLBind("queued"), "attempts": SQLBind(0),
            "next_attempt_at": SQLBind(budgetSlot ?? now), "scheduled_at": SQLBind(budgetSlot), "created_at": SQLBind(now),
        ])
    }

    /// Marks the not yet delivered emails of an invitation (queued, or out of retries) `superseded` and drops their
    /// template fields: a resend or revocation made their link dead.
    public func supersede(membershipIDs: [UUID]) async throws {
        var start = 0
        while start < membershipIDs.count {
            let chunk = Array(membershipIDs[start..<min(start + 500, membershipIDs.count)])
            start += chunk.count
            try await db.sql.update(OutboxMessageModel.schema).set("status", to: "superseded").set("payload", to: SQLLiteral.null)
                .where("membership_id", .in, chunk).where("kind", .equal, EmailKind.invitation.rawValue)
                .where("status", .in, ["queued", "failed_transient"])
                .run()
        }
    }

    /// The organization's invitation budget of `perHour`, good for `takes` emails: read under the organization's
    /// lock, so two invitations never take one slot. One statement, reading at most `takes` slots (a superseded email
    /// gave its slot back) at `fetchWindow`'s offset, whatever the budget.
    public func invitationBudget(orgID: UUID, perHour: Int, now: Date, takes: Int = 1) async throws -> InvitationBudget {
        let (limit, offset) = InvitationBudget.fetchWindow(perHour: perHour, takes: takes)
        // (The limit and offset bound: one prepared statement whatever an organization's budget.)
        let earliest = try await db.preparedSQL.raw("""
            SELECT scheduled_at FROM outbox_messages WHERE org_id = \(bind: orgID) AND scheduled_at > \(bind: InvitationBudget.window(now: now)) \
            AND status <> 'superseded' ORDER BY scheduled_at DESC LIMIT \(bind: limit) OFFSET \(bind: offset)
            """).all(decodingColumn: "scheduled_at", as: Date.self)
        return InvitationBudget(perHour: perHour, takes: takes, earliest: earliest)
    }
}

import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// Who performed a change, as the audit log records it.
public struct AuditActor: Sendable, Equatable {
    public var type: String
    public var id: UUID?

    public static func account(_ id: UUID) -> AuditActor { AuditActor(type: "account", id: id) }
    public static func apiKey(_ id: UUID) -> AuditActor { AuditActor(type: "api_key", id: id) }
    /// Changes made by Roster itself (expiry sweeps).
    public static let system = AuditActor(type: "system", id: nil)
    /// Changes made by an operator through the `roster` command line.
    public static let commandLine = AuditActor(type: "cli", id: nil)
}

/// A roster: an organization's own, or one of its spaces'.
public struct ScopeRef: Sendable, Equatable {
    public var orgID: UUID
    public var spaceID: UUID?
    /// `spaceID ?? orgID`: the key of the roster.
    public var scopeID: UUID { spaceID ?? orgID }
    /// The role ladder members of this scope are ranked on.
    public var ladder: Ladder { spaceID == nil ? .org : .space }

    public init(orgID: UUID, spaceID: UUID? = nil) {
        self.orgID = orgID
        self.spaceID = spaceID
    }
}

/// Reads and atomic writes of membership rows. Every write method expects to run inside `writeTransaction`.
public struct MembershipStore: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    // MARK: Reads

    /// The roles of one ladder of an organization.
    public func ladder(orgID: UUID, _ ladder: Ladder) async throws -> RoleLadder {
        let rows = try await RoleModel.query(on: db).filter(\.$orgID == orgID).filter(\.$ladder == ladder.rawValue).all()
        return RoleLadder(ladder, roles: rows.map(\.definition))
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
        let lock = SQLBackend(db) == .postgres ? " FOR UPDATE" : ""
        let live = try await db.sql.raw("SELECT id FROM organizations WHERE id = \(bind: orgID) AND deleted_at IS NULL\(unsafeRaw: lock)").all()
        if live.isEmpty { throw RosterError.notFound }
    }

    /// Moves one row from `from` to `to` only if it is still in `from` (and matches `extra`): the consume-once
    /// transition of DESIGN §2 invariant 6. Returns the updated row, or nil when another change won.
    public func transition(
        id: UUID, scopeID: UUID? = nil, from: [MembershipStatus], source: MembershipSource?, to: MembershipStatus,
        now: Date, set: [String: any Encodable & Sendable] = [:],
        extra: (@Sendable (SQLUpdateBuilder) -> SQLUpdateBuilder)? = nil
    ) async throws -> MembershipModel? {
        var update = db.sql.update(MembershipModel.schema)
            .set("status", to: to.rawValue)
            .set("updated_at", to: now)
        if !to.isLive { update = update.set("ended_at", to: now) }
        for (column, value) in set.sorted(by: { $0.key < $1.key }) { update = update.set(SQLIdentifier(column), to: SQLBind(value)) }
        update = update.where("id", .equal, id)
            .where("status", .in, from.map(\.rawValue))
        if let scopeID { update = update.where("scope_id", .equal, scopeID) }
        if let source { update = update.where("source", .equal, source.rawValue) }
        if let extra { update = extra(update) }
        let updated = try await update.returning("id").all()
        guard !updated.isEmpty else { return nil }
        return try await MembershipModel.find(id, on: db)
    }

    /// Marks pending invitations whose time is up as expired (of one scope, or addressed to one email),
    /// with an audit event each. Returns how many expired.
    @discardableResult
    public func expireInvitations(scopeID: UUID? = nil, email: String? = nil, now: Date) async throws -> Int {
        var query = MembershipModel.query(on: db)
            .filter(\.$status == MembershipStatus.pending.rawValue)
            .filter(\.$source == MembershipSource.invitation.rawValue)
            .filter(\.$expiresAt <= now)
        if let scopeID { query = query.filter(\.$scopeID == scopeID) }
        if let email { query = query.filter(\.$email == email) }
        let due = try await query.limit(1000).all()
        var expired = 0
        for row in due {
            guard let id = row.id else { continue }
            if let updated = try await transition(id: id, from: [.pending], source: .invitation, to: .expired, now: now,
                                                  extra: { $0.where("expires_at", .lessThanOrEqual, now) }) {
                try await AuditLog(db).record(.expired, actor: .system, membership: updated, before: row.auditState, after: updated.auditState, requestID: nil, at: now)
                expired += 1
            }
        }
        return expired
    }
}

extension RoleModel {
    /// The role as the rules see it.
    public var definition: RoleDefinition {
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

extension MembershipModel {
    /// The facts the lifecycle rules decide on.
    public var facts: MembershipFacts {
        MembershipFacts(id: id, status: MembershipStatus(rawValue: status) ?? .removed, source: MembershipSource(rawValue: source) ?? .direct,
                        roleKey: roleKey, accountID: accountID, email: email)
    }

    /// The fields the audit log records before and after a change.
    public var auditState: [String: String] {
        var state = ["status": status, "source": source, "role": roleKey]
        if let externalID { state["external_id"] = externalID }
        if attributes != "{}" { state["attributes"] = attributes }
        return state
    }
}

/// Appends audit events.
public struct AuditLog: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Records one transition of `membership`.
    public func record(
        _ event: MembershipEvent, actor: AuditActor, membership: MembershipModel,
        before: [String: String]?, after: [String: String]?, requestID: String?, at: Date
    ) async throws {
        try await record(action: event.rawValue, actor: actor, orgID: membership.orgID, spaceID: membership.spaceID,
                         membershipID: membership.id, targetAccountID: membership.accountID, targetEmail: membership.email,
                         before: before, after: after, requestID: requestID, at: at)
    }

    /// Records any event on an organization.
    public func record(
        action: String, actor: AuditActor, orgID: UUID, spaceID: UUID? = nil, membershipID: UUID? = nil,
        targetAccountID: UUID? = nil, targetEmail: String? = nil,
        before: [String: String]?, after: [String: String]?, requestID: String?, at: Date
    ) async throws {
        let event = AuditEventModel()
        event.id = TimeOrderedID.make(now: at)
        event.at = at
        event.actorType = actor.type
        event.actorID = actor.id
        event.action = action
        event.orgID = orgID
        event.spaceID = spaceID
        event.membershipID = membershipID
        event.targetAccountID = targetAccountID
        event.targetEmail = targetEmail
        event.before = before.map(Self.json)
        event.after = after.map(Self.json)
        event.requestID = requestID
        try await event.create(on: db)
    }

    static func json(_ state: [String: String]) -> String {
        JSONText.object(state)
    }
}

/// Queues emails in the current transaction.
public struct Outbox: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Queues `message` (rendered when delivered); `orgID` and `membershipID` tie it to what caused it (rate
    /// limits, delivery status).
    public func enqueue(_ message: QueuedEmail, orgID: UUID?, membershipID: UUID?, now: Date) async throws {
        let row = OutboxMessageModel()
        row.kind = message.kind.rawValue
        row.orgID = orgID
        row.membershipID = membershipID
        row.recipient = message.to
        row.subject = message.subject
        row.textBody = ""
        row.htmlBody = ""
        row.payload = message.payload
        row.status = "queued"
        row.attempts = 0
        row.nextAttemptAt = now
        row.createdAt = now
        try await row.create(on: db)
    }

    /// Marks the not yet delivered emails of an invitation (queued, or out of retries) `superseded` and drops their
    /// template fields: a resend or revocation made their link dead.
    public func supersede(membershipID: UUID) async throws {
        try await db.sql.update(OutboxMessageModel.schema).set("status", to: "superseded").set("payload", to: SQLLiteral.null)
            .where("membership_id", .equal, membershipID).where("kind", .equal, EmailKind.invitation.rawValue)
            .where("status", .in, ["queued", "failed_transient"])
            .run()
    }

    /// Invitation emails queued for an organization since `since` (for the hourly rate limit).
    public func invitationsQueued(orgID: UUID, since: Date) async throws -> Int {
        try await OutboxMessageModel.query(on: db)
            .filter(\.$orgID == orgID)
            .filter(\.$kind == "invitation")
            .filter(\.$createdAt >= since)
            .count()
    }
}

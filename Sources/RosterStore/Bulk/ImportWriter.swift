// Over 400 lines on purpose: the import's bulk write path (snapshot, batched multi-row inserts for two drivers,
// the report store) is one hot path measured as a whole (docs/benchmarks.md); split, its batching would be spread out.
import Fluent
import FluentPostgresDriver
import FluentSQL
import FluentSQLiteDriver
import Foundation
import NIOConcurrencyHelpers
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
    ///
    /// Read with the driver's own row access (not `Codable` decoding): only the columns the planner uses, and each
    /// distinct attributes text decoded once.
    public func snapshot(scopeID: UUID) async throws -> [RosterSnapshotRow] {
        let columns = "id, email, status, source, role_key, name, external_id, attributes, delivery_status, account_id"
        let live = MembershipStatus.live.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        let rows = NIOLockedValueBox(SnapshotRows())
        switch try driver {
        case .sqlite(let sqlite):
            let sql = "SELECT \(columns) FROM \(MembershipModel.schema) WHERE scope_id = ? AND status IN (\(live))"
            try await sqlite.query(sql, [.text(scopeID.uppercaseText)]) { row in
                func text(_ column: String) -> String? { row.column(column)?.string }
                rows.withLockedValue {
                    $0.append(id: text("id").flatMap(UUID.init(canonicalText:)), email: text("email"), status: text("status"),
                              source: text("source"), roleKey: text("role_key"), name: text("name"), externalID: text("external_id"),
                              attributes: text("attributes"), deliveryStatus: text("delivery_status"),
                              accountID: text("account_id").flatMap(UUID.init(canonicalText:)))
                }
            }
        case .postgres(let postgres):
            let sql = "SELECT \(columns) FROM \(MembershipModel.schema) WHERE scope_id = $1 AND status IN (\(live))"
            var binds = PostgresBindings(capacity: 1)
            binds.append(scopeID)
            try await postgres.withConnection { connection in
                connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: db.logger) { row in
                    let (id, email, status, source, roleKey, name, externalID, attributes, deliveryStatus, accountID) =
                        try row.decode((UUID, String, String, String, String, String?, String?, String, String?, UUID?).self)
                    rows.withLockedValue {
                        $0.append(id: id, email: email, status: status, source: source, roleKey: roleKey, name: name,
                                  externalID: externalID, attributes: attributes, deliveryStatus: deliveryStatus, accountID: accountID)
                    }
                }.map { _ in }
            }.get()
        }
        return try rows.withLockedValue { try $0.result() }
    }

    /// Snapshot rows as they arrive from the driver.
    private struct SnapshotRows: Sendable {
        var rows: [RosterSnapshotRow] = []
        /// Stored attributes text → values (a roster has few distinct combinations).
        var attributes: [String: [String: String]] = [:]
        var malformed = false

        mutating func append(id: UUID?, email: String?, status: String?, source: String?, roleKey: String?, name: String?,
                             externalID: String?, attributes text: String?, deliveryStatus: String?, accountID: UUID?) {
            guard let id, let email, let roleKey, let text else { malformed = true; return }
            let values: [String: String]
            if let known = attributes[text] {
                values = known
            } else {
                values = MembershipRow.decodeAttributes(text)
                attributes[text] = values
            }
            rows.append(RosterSnapshotRow(
                id: id, email: email, status: status.flatMap(MembershipStatus.init(rawValue:)) ?? .active,
                source: source.flatMap(MembershipSource.init(rawValue:)) ?? .direct, roleKey: roleKey, name: name,
                externalID: externalID, attributes: values, deliveryFailedPermanently: deliveryStatus == "failed_permanent", accountID: accountID))
        }

        func result() throws -> [RosterSnapshotRow] {
            if malformed { throw RosterError(.internalError, "A membership row could not be read.") }
            return rows
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
        /// An invitation's (a row that is not `active`).
        public var tokenHash: String?
        public var email: QueuedEmail?
        /// An invitation's: when its email goes (its slot in the organization's budget, `InvitationBudget`), and
        /// when it expires (counted from then).
        public var invitation: (sendAt: Date, expiresAt: Date)?

        public init(id: UUID, row: ImportPlan.NewRow, accountID: UUID?, tokenHash: String?, email: QueuedEmail?,
                    invitation: (sendAt: Date, expiresAt: Date)? = nil) {
            self.id = id
            self.row = row
            self.accountID = accountID
            self.tokenHash = tokenHash
            self.email = email
            self.invitation = invitation
        }
    }

    /// Inserts the new rows (with their audit events and invitation emails) and applies the changes,
    /// in batches, inside the caller's transaction. `newRows` is read once, in order, a batch at a time (a lazy
    /// collection keeps only one batch of tokens and emails in memory).
    public func apply(
        newRows: some Collection<NewMembership>, changes: [ImportPlan.Change], scope: ScopeRef,
        actor: AuditActor, invitedBy: UUID?, requestID: String?, now: Date, progress: (@Sendable (Int) -> Void)? = nil
    ) async throws {
        let json = MembershipRow.encodeAttributes
        // External IDs move in two steps so that swaps never collide in the unique index: every changing row lets go
        // of its ID first, before new rows and changed rows claim theirs (a new row may claim an ID a change frees).
        let moving = changes.filter { $0.externalID != nil }.map(\.id)
        for chunk in stride(from: 0, to: moving.count, by: 500).map({ Array(moving[$0..<min($0 + 500, moving.count)]) }) {
            try await db.sql.update(MembershipModel.schema).set("external_id", to: SQLLiteral.null).where("id", .in, chunk).run()
        }
        if !newRows.isEmpty {
            // The new rows are indexed for search after the commit (`SearchIndex`).
            // The new rows' events are numbered in the order they are written.
            let firstEvent = try await EventSequence(db).reserve(newRows.count, orgID: scope.orgID)
            try await SearchIndex(db).deferringInserts(scopeID: scope.scopeID) {
                try await insert(newRows, scope: scope, actor: actor, invitedBy: invitedBy, firstEvent: firstEvent,
                                 requestID: requestID, now: now, progress: progress)
            }
        }
        var audit: [MembershipPlan.AuditEntry] = []
        for change in changes {
            var update = db.sql.update(MembershipModel.schema)
                .set("external_id", to: change.externalID).set("attributes", to: json(change.attributes)).set("updated_at", to: now)
            if let role = change.activateWithRole { update = update.set("status", to: MembershipStatus.active.rawValue).set("role_key", to: role) }
            if let role = change.roleKey { update = update.set("role_key", to: role) }
            try await update.where("id", .equal, change.id).run()
            var after = ["attributes": json(change.attributes)]
            if let externalID = change.externalID { after["external_id"] = externalID }
            if let role = change.activateWithRole { after["status"] = "active"; after["role"] = role }
            if let role = change.roleKey { after["role"] = role }
            let event: MembershipEvent = change.activateWithRole != nil ? .mutualIntent : change.roleKey != nil ? .roleChanged : .updated
            audit.append(MembershipPlan.AuditEntry(action: event.rawValue, actor: actor, scope: scope, membershipID: change.id, targetAccountID: nil,
                                                   targetEmail: change.email, before: change.previousRoleKey.map { ["role": $0] }, after: after))
        }
        // One statement per 500 entries, and one reservation of event numbers for them all.
        try await AuditLog(db).record(audit, requestID: requestID, at: now)
    }
    /// Inserts the new rows with their audit events and invitation emails, in batches; returns the first and last id.
    private func insert(
        _ newRows: some Collection<NewMembership>, scope: ScopeRef, actor: AuditActor, invitedBy: UUID?, firstEvent: Int64?,
        requestID: String?, now: Date, progress: (@Sendable (Int) -> Void)?
    ) async throws -> (first: UUID, last: UUID)? {
        var nextEvent = firstEvent.map(Int.init)
        let json = MembershipRow.encodeAttributes
        let driver = try driver
        var attributesText: [[String: String]: String] = [:]
        var range: (first: UUID, last: UUID)?
        try await withThrowingTaskGroup(of: Int.self) { group in
            var written = 0   // rows whose batch the database has taken (`progress`)
            var start = newRows.startIndex
            while start != newRows.endIndex {
                // The first batch is small, so that the database starts working while the second is made.
                let size = start == newRows.startIndex ? min(500, driver.rowsPerInsert) : driver.rowsPerInsert
                let end = newRows.index(start, offsetBy: size, limitedBy: newRows.endIndex) ?? newRows.endIndex
                let chunk = Array(newRows[start..<end])   // made once: a lazy collection makes new tokens each time it is read
                start = end
                if let first = chunk.first, let last = chunk.last { range = (range?.first ?? first.id, last.id) }
                // Invitations and direct adds apart, so that the values they share (status, source, the audit
                // action) are bound once per statement rather than written into every row.
                var statements: [BulkInsert] = []
                for active in [false, true] {
                    let rows = chunk.filter { $0.row.active == active }
                    guard !rows.isEmpty else { continue }
                    let status = active ? MembershipStatus.active : .pending
                    let source = active ? MembershipSource.direct : .invitation
                    // The invitations' budget slots and expiry times: bound once when the batch shares them (an
                    // import within the budget), else a value per row.
                    let shared = rows.first?.invitation
                    let perRow = !rows.allSatisfy { $0.invitation?.sendAt == shared?.sendAt }
                    var memberships = BulkRows(MembershipModel.schema, [
                        ("id", .uuid), ("account_id", .uuid), ("email", .text), ("name", .text), ("role_key", .text), ("external_id", .text),
                        ("attributes", .text), ("token_hash", .text)] + (perRow ? [("delivery_at", .timestamp), ("expires_at", .timestamp)] : []), same: [
                        ("org_id", .uuid(scope.orgID)), ("space_id", .init(scope.spaceID)), ("scope_id", .uuid(scope.scopeID)),
                        ("invited_by", .init(invitedBy)), ("created_at", .date(now)), ("updated_at", .date(now)),
                        ("status", .text(status.rawValue)), ("source", .text(source.rawValue)), ("delivery_status", .init(active ? nil : "queued"))]
                        + (perRow ? [] : [("delivery_at", .init(shared?.sendAt)), ("expires_at", .init(shared?.expiresAt))]),
                        capacity: rows.count)
                    var audit = BulkRows(AuditEventModel.schema, [
                        ("id", .uuid), ("membership_id", .uuid), ("target_account_id", .uuid), ("target_email", .text), ("after", .text),
                        ("seq", .integer)], same: [
                        ("at", .date(now)), ("actor_type", .text(actor.type)), ("actor_id", .init(actor.id)), ("org_id", .uuid(scope.orgID)),
                        ("space_id", .init(scope.spaceID)), ("request_id", .init(requestID)),
                        ("action", .text((active ? MembershipEvent.added : .invited).rawValue))], capacity: rows.count)
                    var outbox = BulkRows(OutboxMessageModel.schema, [
                        ("id", .uuid), ("kind", .text), ("membership_id", .uuid), ("recipient", .text), ("subject", .text), ("payload", .text)]
                        + (perRow ? [("next_attempt_at", .timestamp), ("scheduled_at", .timestamp)] : []), same: [
                        ("org_id", .uuid(scope.orgID)), ("text_body", .text("")), ("html_body", .text("")), ("status", .text("queued")),
                        ("attempts", .integer(0)), ("created_at", .date(now))]
                        + (perRow ? [] : [("next_attempt_at", .date(shared?.sendAt ?? now)), ("scheduled_at", .init(shared?.sendAt))]),
                        capacity: active ? 0 : rows.count)
                    for new in rows {
                        let r = new.row
                        let attributes: String
                        if let known = attributesText[r.attributes] {
                            attributes = known
                        } else {
                            attributes = json(r.attributes)
                            attributesText[r.attributes] = attributes
                        }
                        memberships.append([
                            .uuid(new.id), .init(new.accountID), .text(r.email), .init(r.name), .text(r.roleKey), .init(r.externalID),
                            .text(attributes), .init(new.tokenHash)] + (perRow ? [.init(new.invitation?.sendAt), .init(new.invitation?.expiresAt)] : []))
                        var after = ["status": status.rawValue, "source": source.rawValue, "role": r.roleKey]
                        if let externalID = r.externalID { after["external_id"] = externalID }
                        // As a single invitation's audit state holds them (and its event shows them).
                        if !r.attributes.isEmpty { after["attributes"] = attributes }
                        audit.append([.uuid(TimeOrderedID.make(now: now)), .uuid(new.id), .init(new.accountID), .text(r.email), .text(AuditLog.json(after)),
                                      nextEvent.map(BulkRows.Value.integer) ?? .null])
                        nextEvent = nextEvent.map { $0 + 1 }
                        if let email = new.email {
                            outbox.append([
                                .uuid(TimeOrderedID.make(now: now)), .text(email.kind.rawValue), .uuid(new.id), .text(email.to), .text(email.subject),
                                .text(email.payload)] + (perRow ? [.date(new.invitation?.sendAt ?? now), .init(new.invitation?.sendAt)] : []))
                        }
                    }
                    statements += [memberships, audit, outbox].compactMap { $0.statement(for: driver) }
                }
                // One batch is written while the next is made (the driver's thread and ours overlap); one at a time.
                if let done = try await group.next() { written += done; progress?(written) }
                let rows = chunk.count
                group.addTask {
                    for statement in statements { try await statement.run(on: driver) }
                    return rows
                }
            }
            while let done = try await group.next() { written += done; progress?(written) }
        }
        return range
    }
}

extension ImportWriter {
    /// The driver behind `db`, for the statements that bypass SQLKit's value encoding.
    var driver: BulkRows.Driver {
        get throws {
            if let sqlite = db as? any SQLiteDatabase { return .sqlite(sqlite) }
            if let postgres = db as? any PostgresDatabase { return .postgres(postgres) }
            throw RosterError(.internalError, "The database is neither SQLite nor PostgreSQL.")
        }
    }
}

/// One multi-row insert made by `BulkRows`, ready to run.
struct BulkInsert: Sendable {
    enum Query: Sendable {
        case sqlite(String, [SQLiteData])
        case postgres(PostgresQuery)
    }

    let query: Query

    func run(on driver: BulkRows.Driver) async throws {
        switch (query, driver) {
        case (.sqlite(let sql, let binds), .sqlite(let sqlite)):
            _ = try await sqlite.query(sql, binds)
        case (.postgres(let query), .postgres(let postgres)):
            try await postgres.withConnection { connection in
                connection.query(query, logger: postgres.logger).map { _ in }
            }.get()
        default:
            preconditionFailure("a statement runs on the driver it was made for")
        }
    }
}

/// Rows of one table written in bulk, with values handed straight to the driver.
///
/// SQLKit binds every value through the generic `Encodable` path (dynamic casts; a UUID becomes text through
/// `uuidString` and `snprintf`), which at 100,000 rows costs more than the inserts themselves. On SQLite a batch is one
/// multi-row `INSERT … SELECT … FROM (VALUES …)` with the rows' text and dates as SQL literals, each value
/// stored exactly as Fluent stores it (UUIDs as uppercase text, dates as Unix seconds); on PostgreSQL a batch is one
/// `INSERT … SELECT * FROM unnest(…)` with one binary array bind per column.
struct BulkRows: Sendable {
    /// A connection that takes driver-level queries.
    enum Driver: Sendable {
        case sqlite(any SQLiteDatabase)
        case postgres(any PostgresDatabase)

        /// Rows per statement. On SQLite 5,000 took 100,000 rows 0.4–0.6 s faster than 500, and 10,000 was no faster;
        /// on PostgreSQL a batch costs a handful of binds whatever its size.
        var rowsPerInsert: Int {
            switch self {
            case .sqlite: 5000
            case .postgres: 10_000
            }
        }
    }

    /// A column's SQL type, for PostgreSQL's arrays.
    enum ColumnType: Sendable {
        case uuid, text, integer, timestamp
    }

    /// One value of one row.
    enum Value: Sendable {
        case uuid(UUID), text(String), integer(Int), date(Date), null

        init(_ value: UUID?) { self = value.map(Value.uuid) ?? .null }
        init(_ value: String?) { self = value.map(Value.text) ?? .null }
        init(_ value: Date?) { self = value.map(Value.date) ?? .null }
    }

    let table: String
    /// The columns whose values each row gives.
    let columns: [(name: String, type: ColumnType)]
    /// The columns with one value for every row (bound once per statement, not once per row).
    let same: [(name: String, value: Value)]
    /// Row after row.
    private(set) var values: [Value] = []

    init(_ table: String, _ columns: [(name: String, type: ColumnType)], same: [(name: String, value: Value)], capacity rows: Int) {
        self.table = table
        self.columns = columns
        self.same = same
        values.reserveCapacity(rows * columns.count)
    }

    /// Adds one row: a value per column, in order.
    mutating func append(_ row: [Value]) {
        precondition(row.count == columns.count, "a value per column")
        values.append(contentsOf: row)
    }

    /// The statement inserting the rows added so far (nil when there are none), its text and values ready for the
    /// driver. Made while the previous batch is written: for 5,000 rows this takes long enough that making it
    /// between two statements would leave the database waiting.
    func statement(for driver: Driver) -> BulkInsert? {
        guard !values.isEmpty else { return nil }
        let rowCount = values.count / columns.count
        let names = (columns.map(\.name) + same.map(\.name)).map { "\"\($0)\"" }.joined(separator: ", ")
        switch driver {
        case .sqlite:
            // `SELECT column1, …, ?, … FROM (VALUES (…), …)`: the shared values are bound once, before the rows'.
            // The rows' text is written into the statement as SQL string literals (`'` doubled), which SQLite reads
            // faster than it takes the same values as bound parameters; text holding a NUL is bound.
            let selected = columns.indices.map { "column\($0 + 1)" } + Array(repeating: "?", count: same.count)
            var sql = Array("INSERT INTO \"\(table)\" (\(names)) SELECT \(selected.joined(separator: ", ")) FROM (VALUES ".utf8)
            sql.reserveCapacity(sql.count + rowCount * columns.count * 24)
            var binds = same.map { bind($0.value) }
            for (index, value) in values.enumerated() {
                let column = index % columns.count
                if column == 0 { sql.append(contentsOf: index == 0 ? "(".utf8 : "),(".utf8) } else { sql.append(UInt8(ascii: ",")) }
                switch value {
                case .uuid(let uuid):
                    sql.append(UInt8(ascii: "'"))
                    uuid.appendUppercaseText(to: &sql)
                    sql.append(UInt8(ascii: "'"))
                case .text(let text) where Self.appendLiteral(text, to: &sql):
                    break
                case .integer(let integer):
                    sql.append(contentsOf: String(integer).utf8)
                case .date(let date):
                    // Stored as SQLite's REAL seconds since 1970, as a bound date would be.
                    sql.append(contentsOf: String(date.timeIntervalSince1970).utf8)
                case .null:
                    sql.append(contentsOf: "NULL".utf8)
                case .text:
                    sql.append(UInt8(ascii: "?"))
                    binds.append(bind(value))
                }
            }
            sql.append(contentsOf: "))".utf8)
            func bind(_ value: Value) -> SQLiteData {
                switch value {
                case .uuid(let uuid): .text(uuid.uppercaseText)
                case .text(let text): .text(text)
                case .integer(let integer): .integer(integer)
                case .date(let date): .float(date.timeIntervalSince1970)
                case .null: .null
                }
            }
            return BulkInsert(query: .sqlite(String(decoding: sql, as: UTF8.self), binds))
        case .postgres:
            var binds = PostgresBindings(capacity: columns.count + same.count)
            for index in columns.indices { binds.append(PostgresColumnArray(rows: self, column: index)) }
            var shared: [String] = []
            for column in same {
                let parameter = "$\(binds.count + 1)"
                switch column.value {
                case .uuid(let uuid): binds.append(uuid); shared.append(parameter + "::uuid")
                case .text(let text): binds.append(text); shared.append(parameter + "::text")
                case .integer(let integer): binds.append(Int64(integer)); shared.append(parameter + "::int8")
                case .date(let date): binds.append(date); shared.append(parameter + "::timestamptz")
                case .null: shared.append("NULL")
                }
            }
            let arrays = columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
            let sql = "INSERT INTO \"\(table)\" (\(names)) SELECT u.*\(shared.map { ", " + $0 }.joined()) FROM unnest(\(arrays)) AS u"
            return BulkInsert(query: .postgres(PostgresQuery(unsafeSQL: sql, binds: binds)))
        }
    }

    /// Appends `text` as an SQL string literal (`'` doubled), or returns false and appends nothing when it holds a
    /// NUL (which would end the statement's text).
    private static func appendLiteral(_ text: String, to sql: inout [UInt8]) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            let quote = UInt8(ascii: "'")
            guard !bytes.contains(0) else { return false }
            sql.append(quote)
            if bytes.contains(quote) {
                for byte in bytes {
                    if byte == quote { sql.append(quote) }
                    sql.append(byte)
                }
            } else {
                sql.append(contentsOf: bytes)
            }
            sql.append(quote)
            return true
        }
    }

    /// One column of the rows in PostgreSQL's binary array format, which (unlike PostgresNIO's arrays) holds NULLs.
    private struct PostgresColumnArray: PostgresDynamicTypeEncodable {
        let rows: BulkRows
        let column: Int

        var psqlType: PostgresDataType {
            switch rows.columns[column].type {
            case .uuid: .uuidArray
            case .text: .textArray
            case .integer: .int8Array
            case .timestamp: .timestamptzArray
            }
        }

        var psqlFormat: PostgresFormat { .binary }

        func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
            let element: PostgresDataType = switch rows.columns[column].type {
            case .uuid: .uuid
            case .text: .text
            case .integer: .int8
            case .timestamp: .timestamptz
            }
            let values = stride(from: column, to: rows.values.count, by: rows.columns.count).lazy.map { rows.values[$0] }
            let hasNull = values.contains { if case .null = $0 { true } else { false } }
            buffer.writeInteger(Int32(1))                                  // dimensions
            buffer.writeInteger(Int32(hasNull ? 1 : 0))                    // has NULLs
            buffer.writeInteger(element.rawValue)                           // element type
            buffer.writeInteger(Int32(rows.values.count / rows.columns.count)) // length
            buffer.writeInteger(Int32(1))                                  // lower bound
            for value in values {
                switch value {
                case .null:
                    buffer.writeInteger(Int32(-1))
                case .uuid(let uuid):
                    buffer.writeInteger(Int32(16))
                    withUnsafeBytes(of: uuid.uuid) { _ = buffer.writeBytes($0) }
                case .text(let text):
                    buffer.writeInteger(Int32(text.utf8.count))
                    buffer.writeString(text)
                case .integer(let integer):
                    buffer.writeInteger(Int32(8))
                    buffer.writeInteger(Int64(integer))
                case .date(let date):
                    // Microseconds since 2000-01-01, as PostgresNIO encodes a `Date`.
                    buffer.writeInteger(Int32(8))
                    buffer.writeInteger(Int64(date.timeIntervalSince(BulkRows.postgresEpoch) * 1_000_000))
                }
            }
        }
    }

    /// PostgreSQL's timestamp origin.
    static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)
}

extension UUID {
    /// The canonical uppercase form (`uuidString`), written directly (`uuidString` formats with `snprintf` on Linux).
    var uppercaseText: String {
        String(unsafeUninitializedCapacity: 36) { out in
            writeUppercaseText(into: out)
            return 36
        }
    }

    /// Appends `uppercaseText`'s 36 bytes to `bytes`.
    func appendUppercaseText(to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 36))
        bytes.withUnsafeMutableBufferPointer { writeUppercaseText(into: .init(rebasing: $0[start...])) }
    }

    private func writeUppercaseText(into out: UnsafeMutableBufferPointer<UInt8>) {
        let digits: StaticString = "0123456789ABCDEF"
        withUnsafeBytes(of: uuid) { bytes in
            digits.withUTF8Buffer { hex in
                var position = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    out[position] = hex[Int(byte >> 4)]
                    out[position + 1] = hex[Int(byte & 0x0F)]
                    position += 2
                }
            }
        }
    }

    /// Parses the canonical 36-character form (either case) without `sscanf`; nil for anything else.
    init?(canonicalText text: String) {
        var bytes = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0),
                     UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        var text = text
        let parsed = text.withUTF8 { utf8 -> Bool in
            guard utf8.count == 36 else { return false }
            return withUnsafeMutableBytes(of: &bytes) { out in
                func nibble(_ c: UInt8) -> UInt8? {
                    switch c {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
                    default: nil
                    }
                }
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        guard utf8[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                    }
                    guard let high = nibble(utf8[position]), let low = nibble(utf8[position + 1]) else { return false }
                    out[index] = high << 4 | low
                    position += 2
                }
                return true
            }
        }
        guard parsed else { return nil }
        self.init(uuid: bytes)
    }
}

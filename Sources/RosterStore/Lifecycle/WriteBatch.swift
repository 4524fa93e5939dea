import Fluent
import Foundation
import SQLKit

/// Writes that go together, sent as one statement on PostgreSQL: each a common table expression of
/// `WITH w0 AS (INSERT …), w1 AS (…) SELECT 1`, so a plan's new rows, emails and audit events cost one round trip
/// under the organization's lock instead of one each. On SQLite (whose one writer holds the database anyway) they
/// run one after the other, in the order added.
///
/// The statements of one batch must not depend on each other's effects, except through the name `add` returns (a
/// later one reading an earlier one's `RETURNING`) and foreign keys (checked when the whole statement ends). A batch
/// holds a plan's few rows: large sets of rows (audit events of an organization's deletion) are written on their own.
struct WriteBatch {
    let db: any Database
    /// Whether the statements are joined into one (PostgreSQL).
    let joins: Bool
    /// Whether a joined batch also sends `NOTIFY roster_changes` (delivered when the transaction commits): one round
    /// trip less under the organization's lock than a statement of its own.
    var notifies = false
    private var statements: [any SQLExpression] = []

    init(_ db: any Database) {
        self.db = db
        joins = SQLBackend(db) == .postgres
    }

    /// Adds `statement`; returns the name a later statement of the batch reads its `RETURNING` by (when `joins`).
    @discardableResult
    mutating func add(_ statement: any SQLExpression) -> String {
        statements.append(statement)
        return "w\(statements.count - 1)"
    }

    /// Runs the statements (and empties the batch). Returns whether it sent the notification `notifies` asks for.
    @discardableResult
    mutating func run() async throws -> Bool {
        defer { statements = [] }
        guard joins, statements.count > 1 else {
            for statement in statements { try await db.preparedSQL.execute(sql: statement) { _ in } }
            return false
        }
        let tables = statements.enumerated().map { index, statement in
            SQLList([SQLIdentifier("w\(index)"), SQLRaw("AS"), SQLGroupExpression(statement)], separator: SQLRaw(" "))
        }
        let result = SQLRaw(notifies ? "SELECT pg_notify('roster_changes', '')" : "SELECT 1")
        try await db.preparedSQL.execute(sql: SQLList([SQLRaw("WITH"), SQLList(tables), result], separator: SQLRaw(" "))) { _ in }
        return notifies
    }
}

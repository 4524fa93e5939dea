import Fluent
import Foundation
import SQLKit

/// Writes that go together, sent as one statement on PostgreSQL: each a common table expression of
/// `WITH e0 AS (UPDATE organizations …), w0 AS (INSERT …), w1 AS (…) SELECT 1`, so a plan's new rows, emails and audit
/// events (or several plans', `AddedPlans`) cost one round trip under the organization's lock instead of one each.
/// Plain inserts into one table and columns become one multi-row `INSERT`, and the events of an organization take
/// their numbers from one reservation (`eventNumber`, the `e…` tables). On SQLite (whose one writer holds the
/// database anyway) the statements run one after the other, in the order added.
///
/// The statements of one batch must not depend on each other's effects, except through the event numbers and
/// foreign keys (checked when the whole statement ends). A batch holds a few plans' rows: large sets of rows (audit
/// events of an organization's deletion) are written on their own.
struct WriteBatch {
    let db: any Database
    /// Whether the statements are joined into one (PostgreSQL).
    let joins: Bool
    /// Whether a joined batch also sends `NOTIFY roster_changes` (delivered when the transaction commits): one round
    /// trip less under the organization's lock than a statement of its own.
    var notifies = false
    private var statements: [any SQLExpression] = []
    /// Joined plain inserts by table and columns: the position of the one statement their rows go in.
    private var inserts: [String: Int] = [:]
    /// The event numbers reserved per organization (`e0`, `e1`, … in the statement, before the others): how many.
    private var reserved: [(orgID: UUID, count: Int)] = []

    init(_ db: any Database) {
        self.db = db
        joins = SQLBackend(db) == .postgres
    }

    /// Adds `statement`. When joined, a plain `INSERT` into the table and columns of an earlier one adds its rows to
    /// that one.
    mutating func add(_ statement: any SQLExpression) {
        if joins, let insert = statement as? SQLInsert, let key = insert.joinKey {
            if let position = inserts[key], var joined = statements[position] as? SQLInsert {
                joined.values += insert.values
                statements[position] = joined
                return
            }
            inserts[key] = statements.count
        }
        statements.append(statement)
    }

    /// The number of the next event of `orgID` this joined batch writes (`EventSequence`), as an expression for its
    /// `seq`: every event of the organization in the batch takes its number from one reservation, in the order asked.
    /// (A batch numbering events of several organizations updates their rows in no set order: callers keep to one.)
    mutating func eventNumber(orgID: UUID) -> any SQLExpression {
        precondition(joins, "only a joined batch reserves event numbers in its statement")
        let index: Int
        if let earlier = reserved.firstIndex(where: { $0.orgID == orgID }) {
            index = earlier
        } else {
            index = reserved.count
            reserved.append((orgID, 0))
        }
        reserved[index].count += 1
        return SQLRaw("((SELECT previous FROM e\(index)) + \(reserved[index].count))")
    }

    /// Runs the statements (and empties the batch). Returns whether it sent the notification `notifies` asks for.
    /// `prepared`: whether the joined statement is prepared (`Database.preparedSQL`) — for the few shapes one plan
    /// gives; the text of several plans' rows varies with their number and nulls, and would use up the names.
    @discardableResult
    mutating func run(prepared: Bool = true) async throws -> Bool {
        defer { statements = []; inserts = [:]; reserved = [] }
        guard joins, statements.count + reserved.count > 1 else {
            for statement in statements { try await db.preparedSQL.execute(sql: statement) { _ in } }
            return false
        }
        func table(_ name: String, _ statement: any SQLExpression) -> any SQLExpression {
            SQLList([SQLIdentifier(name), SQLRaw("AS"), SQLGroupExpression(statement)], separator: SQLRaw(" "))
        }
        let tables = reserved.enumerated().map { index, reservation in
            table("e\(index)", EventSequence.statement(reservation.count, orgID: reservation.orgID))
        } + statements.enumerated().map { index, statement in table("w\(index)", statement) }
        let result = SQLRaw(notifies ? "SELECT pg_notify('roster_changes', '')" : "SELECT 1")
        let statement = SQLList([SQLRaw("WITH"), SQLList(tables), result], separator: SQLRaw(" "))
        try await (prepared ? db.preparedSQL : db.sql).execute(sql: statement) { _ in }
        return notifies
    }
}

private extension SQLInsert {
    /// What an insert joins others by (its table and columns), when it is a plain one: values only, no conflict
    /// clause, nothing returned.
    var joinKey: String? {
        guard valueQuery == nil, genericConflictStrategy == nil, returning == nil, tableExpressionGroup == nil,
              let table = (table as? SQLIdentifier)?.string else { return nil }
        let names = columns.compactMap { ($0 as? SQLIdentifier)?.string }
        guard names.count == columns.count else { return nil }
        return ([table] + names).joined(separator: "\u{1F}")
    }
}

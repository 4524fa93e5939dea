import Fluent
import FluentPostgresDriver
import Foundation
import Synchronization

extension Database {
    /// This database as an `SQLDatabase` whose statements PostgreSQL parses and plans once per connection (named
    /// prepared statements), for the statements every roster write runs: the invitee's facts, the organization's
    /// lock, the ladder, a write batch. Elsewhere (SQLite), and for a statement it cannot prepare, it is `sql`.
    ///
    /// On PostgreSQL parsing and planning a short statement costs several times its execution: for a SCIM create,
    /// about half of PostgreSQL's CPU went there.
    var preparedSQL: any SQLDatabase { PreparedSQLDatabase(database: self) }
}

/// `Database.preparedSQL`.
///
/// PostgresNIO prepares a statement on a connection the first time it runs there (`PostgresPreparedStatement`,
/// whose name and text are static; `SessionStatement` hands them in). A statement's name stands for its text and
/// its parameters' types (`PreparedStatementNames`): the types of its binds are those PostgresKit sends for the
/// unnamed statement, so a statement means the same either way.
private struct PreparedSQLDatabase: SQLDatabase {
    let database: any Database
    private var plain: any SQLDatabase { database.sql }

    var logger: Logger { plain.logger }
    var eventLoop: any EventLoop { plain.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { plain.version }
    var dialect: any SQLDialect { plain.dialect }
    var queryLogLevel: Logger.Level? { plain.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        eventLoop.makeFutureWithTask { try await self.execute(sql: query, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        guard let postgres = database as? any PostgresDatabase else { return try await plain.execute(sql: query, onRow) }
        let (sql, binds) = plain.serialize(query)
        guard let statement = SessionStatement(sql: sql, binds: binds),
              let name = PreparedStatementNames.shared.name(of: statement) else {
            return try await plain.execute(sql: query, onRow)
        }
        if let queryLogLevel {
            logger.log(level: queryLogLevel, "Executing prepared query", metadata: ["sql": .string(sql), "name": .string(name)])
        }
        let logger = self.logger
        @Sendable func run(on connection: PostgresConnection) async throws {
            try await SessionStatement.$current.withValue((name, statement.text, statement.types)) {
                for try await row in try await connection.execute(statement, logger: logger) { onRow(row.sql()) }
            }
        }
        do {
            if database.inTransaction {
                // The transaction's connection, which stays this task's until it ends.
                try await run(on: postgres.withConnection { $0.eventLoop.makeSucceededFuture($0) }.get())
            } else {
                try await postgres.withConnection { connection in
                    connection.eventLoop.makeFutureWithTask { try await run(on: connection) }
                }.get()
            }
        } catch let error as PSQLError {
            // A statement whose preparation failed stays failed on its connection (PostgresNIO keeps the error by
            // name): after an error a preparation can meet (a transaction already aborted, a cancellation), and one
            // a prepared statement keeps meeting (its table changed under it), the statement gets a new name.
            if let state = error.serverInfo?[.sqlState], PreparedStatementNames.errorsThatRetire.contains(where: state.hasPrefix) {
                PreparedStatementNames.shared.retire(statement)
            }
            throw error
        }
    }
}

/// A statement with its binds, run through PostgresNIO's prepared statements under the name, text and parameter
/// types set in `current` (read when it runs, in the running task).
private struct SessionStatement: PostgresPreparedStatement {
    typealias Row = PostgresRow

    @TaskLocal static var current: (name: String, sql: String, types: [PostgresDataType]) = ("", "", [])
    static var name: String { current.name }
    static var sql: String { current.sql }
    static var bindingDataTypes: [PostgresDataType] { current.types }

    /// The text PostgreSQL prepares, and the types of its parameters (what the name stands for).
    let text: String
    let types: [PostgresDataType]
    let bindings: PostgresBindings

    /// The statement for `sql` and `binds`, as PostgresKit encodes binds (nil, or a type PostgresNIO encodes itself);
    /// nil when a bind needs PostgresKit's slower paths (JSON, arrays of other types): such a statement runs unprepared.
    init?(sql: String, binds: [any Encodable & Sendable]) {
        var bindings = PostgresBindings(capacity: binds.count)
        var types: [PostgresDataType] = []
        types.reserveCapacity(binds.count)
        for bind in binds {
            if (bind as? any OptionalMarker)?.isNone == true {
                bindings.appendNull()
                types.append(.null)
            } else if let value = bind as? any PostgresThrowingDynamicTypeEncodable {
                guard (try? bindings.append(value, context: .default)) != nil else { return nil }
                types.append(value.psqlType)
            } else {
                return nil
            }
        }
        text = sql
        self.types = types
        self.bindings = bindings
    }

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// Whether an `Optional` bind is nil (a bind arrives as `any Encodable`, wrapping it).
private protocol OptionalMarker { var isNone: Bool { get } }
extension Optional: OptionalMarker { var isNone: Bool { self == nil } }

/// The names of prepared statements: one per text and parameter types, the same on every connection of this
/// process. At most `capacity` names are ever given (each costs memory in the server process of every connection
/// that runs it, and a retired one stays there): later texts run unprepared.
final class PreparedStatementNames: Sendable {
    static let shared = PreparedStatementNames(capacity: 128)

    /// SQLSTATE classes and codes after which a statement is prepared again under a new name: a transaction already
    /// aborted (25P02), a name unknown (26000), a result type changed under it (0A000), a syntax or access error
    /// (42), a cancellation or shutdown (57).
    static let errorsThatRetire = ["25P02", "26000", "0A000", "42", "57"]

    private struct State {
        var names: [String: String] = [:]
        var given = 0
    }
    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    private static func key(of statement: SessionStatement) -> String {
        statement.types.map { String($0.rawValue) }.joined(separator: ",") + "|" + statement.text
    }

    fileprivate func name(of statement: SessionStatement) -> String? {
        let key = Self.key(of: statement)
        return state.withLock { state in
            if let name = state.names[key] { return name }
            guard state.given < capacity else { return nil }
            let name = "roster_\(state.given)"
            state.given += 1
            state.names[key] = name
            return name
        }
    }

    /// Forgets the name of `statement`: it is prepared again, under a new one, when it runs next.
    fileprivate func retire(_ statement: SessionStatement) {
        let key = Self.key(of: statement)
        _ = state.withLock { $0.names.removeValue(forKey: key) }
    }
}

extension MembershipModel {
    /// The columns of a row, named (`SELECT *` in a prepared statement fails once a migration adds a column).
    static let columnList = sqlColumnList(keys, of: schema)
}

extension OrganizationModel {
    /// The columns of a row, named (`SELECT *` in a prepared statement fails once a migration adds a column).
    static let columnList = sqlColumnList(keys, of: schema)
}

extension SCIMUserModel {
    /// The columns of a row, named (`SELECT *` in a prepared statement fails once a migration adds a column).
    static let columnList = sqlColumnList(keys, of: schema)
}

private func sqlColumnList(_ keys: [FieldKey], of table: String) -> String {
    keys.map { "\"\(table)\".\"\($0.description)\"" }.joined(separator: ", ")
}

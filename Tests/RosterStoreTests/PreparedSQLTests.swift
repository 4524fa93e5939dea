import Foundation
import Testing
import Fluent
import SQLKit
@testable import RosterStore
import RosterStoreTesting

/// `Database.preparedSQL`: on PostgreSQL a statement is prepared once per connection and runs under its name after;
/// a preparation that failed does not leave the statement failing on its connection.
@Suite struct PreparedSQLTests {
    static let postgres = TestBackend.available.filter { $0 == .postgres }

    /// A statement of its own (a literal no other test's statement holds).
    func statement(_ tag: String, id: UUID) -> SQLQueryString {
        "SELECT '\(unsafeRaw: tag)' AS tag, \(bind: id) AS id, \(bind: String?.none) AS absent"
    }

    @Test(arguments: postgres)
    func aStatementIsPreparedOnceAndEachRunReadsItsOwnBinds(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let tag = "t\(UInt32.random(in: 0...UInt32.max))"
            try await db.withConnection { conn in
                for _ in 0..<3 {
                    let id = UUID()
                    let row = try #require(try await conn.preparedSQL.raw(statement(tag, id: id)).first())
                    #expect(try row.decode(column: "id", as: UUID.self) == id)
                    #expect(try row.decode(column: "absent", as: String?.self) == nil)
                }
                let prepared = try await conn.sql.raw("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE \(bind: "%'\(tag)'%")")
                    .first()?.decode(column: "n", as: Int.self)
                #expect(prepared == 1)
            }
        }
    }

    @Test(arguments: postgres)
    func aStatementFirstRunInAnAbortedTransactionRunsAfterIt(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let tag = "t\(UInt32.random(in: 0...UInt32.max))"
            try await db.withConnection { conn in
                try await conn.sql.raw("BEGIN").run()
                await #expect(throws: (any Error).self) { try await conn.sql.raw("SELECT 1 / 0").run() }
                // Its preparation fails: the transaction is aborted.
                await #expect(throws: (any Error).self) { try await conn.preparedSQL.raw(statement(tag, id: UUID())).first() }
                try await conn.sql.raw("ROLLBACK").run()
                let id = UUID()
                let row = try #require(try await conn.preparedSQL.raw(statement(tag, id: id)).first())
                #expect(try row.decode(column: "id", as: UUID.self) == id)
            }
        }
    }
}

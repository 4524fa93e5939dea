import Fluent
import Foundation
import RosterCore
import SQLKit

/// The roster search index (`q` on members lists) and the backlog a bulk import leaves it.
///
/// A bulk import does not index the rows it inserts inside its transaction (on 100,000 rows that was a third of
/// its time); it records them in `search_backlog`, and `catchUp()` indexes them after the commit, a chunk per
/// transaction. Searches stay exact meanwhile: a scope with a backlog is searched with `LIKE` over its rows instead
/// of through the index (`MemberList`). See `DeferrableMembershipSearch` for the schema.
public struct SearchIndex: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Rows indexed per catch-up transaction (short enough not to hold the write lock long).
    public static let rowsPerCatchUp = 10_000

    /// Runs `insert` inside the caller's write transaction (which this must be called in) with search indexing of new membership rows deferred.
    /// `insert` returns the first and last id of the rows it inserted (ids made in increasing order), or nil.
    public func deferringInserts(scopeID: UUID, _ insert: () async throws -> (first: UUID, last: UUID)?) async throws {
        switch SQLBackend(db) {
        case .sqlite:
            // An open range from the next rowid: the insert trigger skips every row in it.
            try await db.sql.raw("""
                INSERT INTO search_backlog (scope_id, next_rowid, last_rowid)
                VALUES (\(bind: scopeID), (SELECT coalesce(max(rowid), 0) + 1 FROM memberships), NULL)
                """).run()
            _ = try await insert()
            try await db.sql.raw("UPDATE search_backlog SET last_rowid = (SELECT coalesce(max(rowid), 0) FROM memberships) WHERE last_rowid IS NULL").run()
            try await db.sql.raw("DELETE FROM search_backlog WHERE last_rowid < next_rowid").run()
        case .postgres:
            try await db.sql.raw("SELECT set_config('roster.defer_search', 'on', true)").run()
            let range = try await insert()
            try await db.sql.raw("SELECT set_config('roster.defer_search', 'off', true)").run()
            if let range {
                try await db.sql.raw("""
                    INSERT INTO search_backlog (scope_id, first_id, last_id) VALUES (\(bind: scopeID), \(bind: range.first), \(bind: range.last))
                    """).run()
            }
        }
    }

    /// Whether rows of this scope are still waiting to be indexed.
    public func hasBacklog(scopeID: UUID) async throws -> Bool {
        try await db.sql.raw("SELECT 1 AS pending FROM search_backlog WHERE scope_id = \(bind: scopeID) LIMIT 1").first() != nil
    }

    /// Indexes up to `rows` rows of the oldest backlog entry, in one write transaction. Returns false when there
    /// was nothing left to index.
    @discardableResult
    public func catchUp(rows: Int = rowsPerCatchUp) async throws -> Bool {
        // A read first: there is usually nothing to do, and every write transaction empties the authorization cache.
        guard try await db.sql.raw("SELECT 1 AS pending FROM search_backlog LIMIT 1").first() != nil else { return false }
        return try await db.writeTransaction { db in
            switch SQLBackend(db) {
            case .sqlite: try await Self.catchUpSQLite(db, rows: rows)
            case .postgres: try await Self.catchUpPostgres(db, rows: rows)
            }
        }
    }

    /// Indexes every backlog entry.
    public func catchUpAll() async throws {
        while try await catchUp() {}
    }

    private struct SQLiteEntry: Decodable { var id: Int; var next_rowid: Int; var last_rowid: Int }

    private static func catchUpSQLite(_ db: any Database, rows: Int) async throws -> Bool {
        guard let entry = try await db.sql.raw("SELECT id, next_rowid, last_rowid FROM search_backlog WHERE last_rowid IS NOT NULL ORDER BY id LIMIT 1")
            .first(decoding: SQLiteEntry.self) else { return false }
        let upTo = min(entry.last_rowid, entry.next_rowid + rows - 1)
        let haystack = CreateMembershipSearchIndex.haystack("memberships")
        try await db.sql.raw("""
            INSERT INTO memberships_search (rowid, haystack)
            SELECT rowid, \(unsafeRaw: haystack) FROM memberships WHERE rowid BETWEEN \(bind: entry.next_rowid) AND \(bind: upTo)
            """).run()
        if upTo >= entry.last_rowid {
            try await db.sql.raw("DELETE FROM search_backlog WHERE id = \(bind: entry.id)").run()
        } else {
            try await db.sql.raw("UPDATE search_backlog SET next_rowid = \(bind: upTo + 1) WHERE id = \(bind: entry.id)").run()
        }
        return true
    }

    private struct PostgresEntry: Decodable { var id: Int; var scope_id: UUID; var first_id: UUID; var last_id: UUID; var after_id: UUID? }
    private struct Indexed: Decodable { var membership_id: UUID }

    private static func catchUpPostgres(_ db: any Database, rows: Int) async throws -> Bool {
        guard let entry = try await db.sql.raw("SELECT id, scope_id, first_id, last_id, after_id FROM search_backlog ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED")
            .first(decoding: PostgresEntry.self) else { return false }
        let lower: SQLQueryString = entry.after_id.map { "id > \(bind: $0)" } ?? "id >= \(bind: entry.first_id)"
        let haystack = CreateMembershipSearchIndex.haystack("memberships")
        // FOR SHARE: a row changed by a transaction still running is read as that transaction leaves it, so an
        // older value never overwrites what the trigger wrote.
        let indexed = try await db.sql.raw("""
            WITH chunk AS (
              SELECT id, scope_id, \(unsafeRaw: haystack) AS haystack FROM memberships
              WHERE scope_id = \(bind: entry.scope_id) AND \(lower) AND id <= \(bind: entry.last_id)
              ORDER BY id LIMIT \(literal: rows) FOR SHARE
            )
            INSERT INTO memberships_search (membership_id, scope_id, haystack) SELECT id, scope_id, haystack FROM chunk
            ON CONFLICT (membership_id) DO UPDATE SET haystack = EXCLUDED.haystack
            RETURNING membership_id
            """).all(decoding: Indexed.self)
        if indexed.count < rows {
            try await db.sql.raw("DELETE FROM search_backlog WHERE id = \(bind: entry.id)").run()
        } else if let last = indexed.map(\.membership_id).max(by: { $0.precedes($1) }) {
            try await db.sql.raw("UPDATE search_backlog SET after_id = \(bind: last) WHERE id = \(bind: entry.id)").run()
        }
        return true
    }
}

extension UUID {
    /// Byte order, as PostgreSQL orders uuid values.
    func precedes(_ other: UUID) -> Bool {
        withUnsafeBytes(of: uuid) { a in withUnsafeBytes(of: other.uuid) { b in a.lexicographicallyPrecedes(b) } }
    }
}

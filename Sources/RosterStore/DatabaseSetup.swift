import Fluent
import FluentSQLiteDriver
import FluentPostgresDriver
import Foundation
import RosterCore

/// Registers Roster's database and migrations with a Fluent `Databases`/`Migrations` pair.
public enum DatabaseSetup {
    /// The Fluent configuration for `location`. For SQLite the file's directory is created if missing.
    public static func configuration(for location: DatabaseLocation) throws -> DatabaseConfigurationFactory {
        switch location {
        case .sqlite(let path):
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                // The data directory holds the database and the outbox: the owner's alone.
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            return .sqlite(.file(path), sqlLogLevel: nil)
        case .postgres(let url):
            let config = try SQLPostgresConfiguration(url: url)
            // Writers to one organization hold a connection while they wait for its lock: a burst of them (an import
            // and a few dozen invitations) queues for connections longer than the default 10 s allows under load.
            return .postgres(configuration: config, maxConnectionsPerEventLoop: 8, connectionPoolTimeout: .seconds(30), sqlLogLevel: .trace)
        }
    }

    /// Per-database settings applied once at start-up, on SQLite: 16 KiB pages for a new database file (an existing
    /// one keeps its page size; the pragma is then ignored), and the write-ahead log.
    ///
    /// 16 KiB pages (SQLite's default is 4 KiB) took the memberships inserts of a 100,000-row import 20–30 % less
    /// time: fewer page splits and fewer log frames (docs/benchmarks.md).
    public static func prepare(_ database: any Database) async throws {
        if SQLBackend(database) == .sqlite {
            try await database.sql.raw("PRAGMA page_size = 16384").run()
            try await database.sql.raw("PRAGMA journal_mode=WAL").run()
        }
    }
}

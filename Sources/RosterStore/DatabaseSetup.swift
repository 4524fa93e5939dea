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
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            return .sqlite(.file(path), sqlLogLevel: nil)
        case .postgres(let url):
            let config = try SQLPostgresConfiguration(url: url)
            return .postgres(configuration: config, maxConnectionsPerEventLoop: 8, sqlLogLevel: .trace)
        }
    }

    /// Per-database settings applied once at start-up: WAL journal on SQLite.
    public static func prepare(_ database: any Database) async throws {
        if SQLBackend(database) == .sqlite {
            try await database.sql.raw("PRAGMA journal_mode=WAL").run()
        }
    }
}

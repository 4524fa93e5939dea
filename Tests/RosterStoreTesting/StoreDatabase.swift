import Foundation
import FluentKit
import Logging
import NIOCore
import NIOPosix
import RosterCore
import RosterStore

/// A migrated database of a backend for the store's own tests, opened with FluentKit alone: no Vapor application,
/// no HTTP, only what `RosterStore` needs.
public enum StoreDatabase {
    /// Runs `body` on a fresh, migrated database of `backend`; closes and drops it afterwards.
    public static func with(_ backend: TestBackend, _ body: (any Database) async throws -> Void) async throws {
        let scratch = try await backend.makeScratchDatabase()
        do {
            try await open(scratch.location, migrate: !scratch.migrated, body)
        } catch {
            await scratch.drop()
            throw error
        }
        await scratch.drop()
    }

    /// Migrates the database at `location` (the PostgreSQL template) the way `roster` does on start.
    public static func migrate(location: DatabaseLocation) async throws {
        try await open(location, migrate: true) { _ in }
    }

    /// Opens the database at `location` with FluentKit, optionally migrates it, runs `body`, and closes it.
    static func open(_ location: DatabaseLocation, migrate: Bool, _ body: (any Database) async throws -> Void) async throws {
        var logger = Logger(label: "roster.tests.store")
        logger.logLevel = .warning
        let databases = Databases(threadPool: NIOThreadPool.singleton, on: MultiThreadedEventLoopGroup.singleton)
        databases.use(try DatabaseSetup.configuration(for: location), as: DatabaseID(string: "roster"), isDefault: true)
        do {
            guard let db = databases.database(logger: logger, on: MultiThreadedEventLoopGroup.singleton.any()) else {
                throw StoreTestError("no database configured")
            }
            if migrate {
                try await DatabaseSetup.prepare(db)
                let migrations = Migrations()
                migrations.add(RosterMigrations.all)
                let migrator = Migrator(databases: databases, migrations: migrations, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
                try await migrator.setupIfNeeded().get()
                try await migrator.prepareBatch().get()
            }
            try await body(db)
        } catch {
            await databases.shutdownAsync()
            throw error
        }
        await databases.shutdownAsync()
    }
}

/// A failure of the test scaffolding itself.
struct StoreTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

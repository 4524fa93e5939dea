import Vapor
import Fluent
import SQLKit
import RosterCore
import RosterStore
#if canImport(Glibc)
import Glibc
#endif

/// The data directory's lock: every command that opens the SQLite database (`serve`, `worker`, `import`, …) holds it
/// shared while it runs; `roster restore` takes it exclusively, so it never replaces a database one has open.
enum DataDirectoryLock {
    /// The lock file in `directory`.
    static func path(in directory: String) -> String { (directory as NSString).appendingPathComponent("roster.lock") }

    /// Takes the lock (shared or exclusive) without waiting; the open descriptor holds it until closed. Nil when
    /// another process holds it in a conflicting mode.
    static func take(in directory: String, exclusive: Bool) throws -> Int32? {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let descriptor = open(path(in: directory), O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CommandLineError("cannot open \(path(in: directory))") }
        if flock(descriptor, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            close(descriptor)
            return nil
        }
        return descriptor
    }
}

/// `roster backup FILE`: a consistent copy of the live SQLite database (`VACUUM INTO`, one read transaction, so
/// a concurrent import is in it whole or not at all), while servers keep running.
struct BackupCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Argument(name: "file", help: "Where to write the copy (must not exist).") var file: String
    }
    var help: String { "Copies the live SQLite database to FILE, consistently, while servers run (PostgreSQL: pg_dump, see docs/deploy.md)." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        guard case .sqlite = app.roster.configuration.database else {
            throw CommandLineError("the database is PostgreSQL: back it up with pg_dump -Fc \"$DATABASE_URL\" (docs/deploy.md)")
        }
        let target = URL(fileURLWithPath: signature.file).standardizedFileURL.path
        guard !FileManager.default.fileExists(atPath: target) else { throw CommandLineError("\(target) exists; choose a new file") }
        guard case .sqlite(let path) = app.roster.configuration.database, FileManager.default.fileExists(atPath: path) else {
            throw CommandLineError("there is no database to back up in \(app.roster.configuration.dataDirectory)")
        }
        // Copied as it is (a newer binary does not migrate the database under a running older server), readable by
        // the owner only from its first byte.
        let previous = umask(0o077)
        defer { umask(previous) }
        try await app.db.sql.raw("VACUUM INTO \(bind: target)").run()
        let size = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
        context.console.print("Backed up to \(target) (\(size) bytes).")
    }
}

/// `roster restore FILE`: puts a backup in place of the SQLite database, refusing while a server holds it. The
/// database it replaces is kept beside it (`roster.sqlite.before-restore-…`).
struct RestoreCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Argument(name: "file", help: "A file made by roster backup.") var file: String
    }
    var help: String { "Replaces the SQLite database with a backup; refused while a roster command (serve, worker, import, …) runs on it." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        guard case .sqlite(let databasePath) = app.roster.configuration.database else {
            throw CommandLineError("the database is PostgreSQL: restore it with pg_restore (docs/deploy.md)")
        }
        guard let handle = FileHandle(forReadingAtPath: signature.file), let header = try? handle.read(upToCount: 16),
              header == Data("SQLite format 3\u{0}".utf8) else {
            throw CommandLineError("\(signature.file) is not a SQLite database made by roster backup")
        }
        try? handle.close()
        let directory = app.roster.configuration.dataDirectory
        guard let lock = try DataDirectoryLock.take(in: directory, exclusive: true) else {
            throw RosterError(.conflict, "a roster command (serve, worker, import…) is running on \(directory); stop it, then restore")
        }
        defer { close(lock) }
        let files = FileManager.default
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        var kept: String?
        if files.fileExists(atPath: databasePath) {
            kept = databasePath + ".before-restore-" + stamp
            try files.moveItem(atPath: databasePath, toPath: kept!)
            for suffix in ["-wal", "-shm"] where files.fileExists(atPath: databasePath + suffix) {
                try files.moveItem(atPath: databasePath + suffix, toPath: kept! + suffix)
            }
        }
        let incoming = databasePath + ".restoring"
        do {
            try? files.removeItem(atPath: incoming)
            try files.copyItem(atPath: signature.file, toPath: incoming)
            try? files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: incoming)
            try files.moveItem(atPath: incoming, toPath: databasePath)
        } catch {
            // Put back what was there.
            if let kept {
                try? files.removeItem(atPath: databasePath)
                for suffix in ["", "-wal", "-shm"] where files.fileExists(atPath: kept + suffix) {
                    try? files.moveItem(atPath: kept + suffix, toPath: databasePath + suffix)
                }
            }
            throw error
        }
        try await migrate(app)   // a backup from an earlier version is brought up to this one
        context.console.print("Restored \(signature.file) into \(databasePath)." + (kept.map { " The database it replaced is at \($0)." } ?? ""))
    }
}

import Fluent
import FluentSQLiteDriver
import FluentPostgresDriver
import RosterCore
import Synchronization
import Metrics

/// The SQL dialect of a database, for the few places where SQLite and PostgreSQL need different SQL.
public enum SQLBackend: Sendable {
    case sqlite, postgres

    /// The backend behind `database`.
    public init(_ database: any Database) {
        let name = (database as? any SQLDatabase)?.dialect.name ?? ""
        self = name == "postgresql" ? .postgres : .sqlite
    }
}

extension Database {
    /// This database as an `SQLDatabase` (both supported drivers are SQL drivers).
    public var sql: any SQLDatabase { self as! any SQLDatabase }

    /// Runs `body` in one write transaction.
    ///
    /// On SQLite, writers of this process queue in `SQLiteWriteLock`, and the transaction begins with
    /// `BEGIN IMMEDIATE`, so a read lock is never upgraded (which fails with `SQLITE_BUSY` instead of waiting).
    /// Every write to SQLite goes through here. On PostgreSQL it is Fluent's transaction.
    /// Database constraint failures inside are mapped to `RosterError`s (see `UniqueConstraint`).
    /// How long it waited to begin is reported as `roster_db_write_wait_seconds` (`WriteWait`).
    ///
    /// Called inside another write transaction (with the database it handed out), it runs `body` in that one, whose
    /// own `changingAPIKeys` and `notifying` apply (a nested call's are not looked at).
    ///
    /// A transaction that creates or revokes API keys says so with `changingAPIKeys`: cached keys are then read
    /// again, here and (on PostgreSQL) on every instance (`ChangeGeneration.apiKeys`); other writes leave them.
    ///
    /// On PostgreSQL it notifies the other instances (`NOTIFY roster_changes`) before it commits. With
    /// `notifying: .whenAccessChanges` it does so only when a plan it applied changes access (`MembershipPlan.changesAccess`,
    /// noted by `apply`): for transactions that write nothing else an access cache reads. (A plan's write statement
    /// may carry the notification itself, `WriteBatch.notifies`; then it is not sent again.)
    public func writeTransaction<T: Sendable>(changingAPIKeys: Bool = false, notifying: ChangeNotice = .always,
                                              _ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        // SQLite's connection does not say it is in a transaction; the task does.
        if inTransaction || WriteTransactionScope.isOpen { return try await body(self) }
        ChangeGeneration.shared.advance(includingAPIKeys: changingAPIKeys)
        defer { ChangeGeneration.shared.advance(includingAPIKeys: changingAPIKeys) }
        do {
            return try await attempt(changingAPIKeys: changingAPIKeys, notifying: notifying, readsEverythingUnderLock: false, body)
        } catch is StaleFacts {
            // Facts read before the organization's lock went stale: once more, reading everything under it.
            return try await attempt(changingAPIKeys: changingAPIKeys, notifying: notifying, readsEverythingUnderLock: true, body)
        }
    }

    /// One try of `writeTransaction`'s body in a transaction of its own.
    private func attempt<T: Sendable>(changingAPIKeys: Bool, notifying: ChangeNotice, readsEverythingUnderLock: Bool,
                                      _ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        let accessChanges = AccessChanges()
        // (Set around the body itself: the drivers may run it in a task of their own.)
        @Sendable func run(_ db: any Database) async throws -> T {
            try await WriteTransactionScope.$readsEverythingUnderLock.withValue(readsEverythingUnderLock) {
                try await WriteTransactionScope.$accessChanges.withValue(accessChanges) { try await body(db) }
            }
        }
        let asked = ContinuousClock.now
        do {
            switch SQLBackend(self) {
            case .postgres:
                return try await transaction { db in
                    // (A connection Fluent hands out counts as being in a transaction, so the wait is read here,
                    // after the pool gave the connection and BEGIN ran.)
                    WriteWait.record(since: asked, backend: .postgres)
                    let result = try await run(db)
                    // Delivered to every listening instance when (and only if) this transaction commits.
                    guard changingAPIKeys || notifying == .always || accessChanges.noted else { return result }
                    // (A plan's write batch may have sent it already.)
                    guard changingAPIKeys || !accessChanges.notified else { return result }
                    try await db.sql.raw(changingAPIKeys ? "NOTIFY roster_changes, '\(unsafeRaw: ChangeGeneration.apiKeysPayload)'" : "NOTIFY roster_changes").run()
                    return result
                }
            case .sqlite:
                return try await SQLiteWriteLock.shared.withLock {
                    try await withConnection { conn in
                        WriteWait.record(since: asked, backend: .sqlite)
                        // Waits for other processes (CLI, worker) by sleeping rather than spinning.
                        try await conn.sql.raw("PRAGMA busy_timeout = 10000").run()
                        // A 16 MB page cache (the default is 2 MB) for large transactions (imports); 64 MB was no faster
                        // and, kept by each pooled connection, raised the server's memory by ~100 MB. Statement
                        // journals stay in memory.
                        try await conn.sql.raw("PRAGMA cache_size = -16384").run()
                        try await conn.sql.raw("PRAGMA temp_store = MEMORY").run()
                        try await conn.sql.raw("PRAGMA wal_autocheckpoint = \(unsafeRaw: WriteAheadLog.checkpointsInBackground ? "0" : "1000")").run()
                        try await conn.sql.raw("BEGIN IMMEDIATE").run()
                        do {
                            let result = try await WriteTransactionScope.$isOpen.withValue(true) { try await run(conn) }
                            try await conn.sql.raw("COMMIT").run()
                            return result
                        } catch {
                            try? await conn.sql.raw("ROLLBACK").run()
                            throw error
                        }
                    }
                }
            }
        } catch {
            throw UniqueConstraint.mapped(error)
        }
    }
}

/// Whether the current task runs inside a SQLite write transaction (whose connection does not say so itself), and
/// whether it is the second try of one whose facts went stale.
public enum WriteTransactionScope {
    @TaskLocal static var isOpen = false
    /// Set while a write transaction runs again after `StaleFacts`: nothing may be read before the lock then.
    @TaskLocal public static var readsEverythingUnderLock = false
    /// Where `apply` notes that the transaction changes access.
    @TaskLocal static var accessChanges: AccessChanges?
}

/// When a PostgreSQL write transaction notifies the other instances (`NOTIFY roster_changes`, which drops their
/// access caches' answers).
public enum ChangeNotice: Sendable {
    /// Whatever it wrote.
    case always
    /// Only when a plan it applied changes access (`MembershipPlan.changesAccess`); for transactions whose other
    /// writes no access cache reads (a SCIM user, an invitation's rows).
    case whenAccessChanges
}

/// Whether a write transaction changed access (`ChangeNotice.whenAccessChanges`), and whether a plan's write batch
/// already sent the notification.
final class AccessChanges: Sendable {
    private let value = Atomic<Bool>(false)
    private let sent = Atomic<Bool>(false)
    var noted: Bool { value.load(ordering: .acquiring) }
    var notified: Bool { sent.load(ordering: .acquiring) }
    func note() { value.store(true, ordering: .releasing) }
    func noteNotified() { sent.store(true, ordering: .releasing) }
}

/// Thrown inside a write transaction when facts read before the organization's lock (`MembershipStore.inviteeFacts`)
/// turned out stale — a unique index or a guarded transition refused the write they led to. The outermost
/// `writeTransaction` rolls back and runs its body once more with `WriteTransactionScope.readsEverythingUnderLock`.
public struct StaleFacts: Error {
    /// What refused the write.
    public let underlying: any Error

    public init(_ underlying: any Error) { self.underlying = underlying }
}

/// The time write transactions wait before they begin — for a connection from the pool and `BEGIN` (PostgreSQL), or for this
/// process's writer turn and then a connection (SQLite) — as the `roster_db_write_wait_seconds` timer (a histogram in
/// `/metrics`). The pools (AsyncKit's) report nothing themselves; reads are not timed.
/// The timer is looked up at each use (not kept), so it reports to whatever metrics backend the process bootstrapped.
enum WriteWait {
    static func record(since asked: ContinuousClock.Instant, backend: SQLBackend) {
        Metrics.Timer(label: "roster_db_write_wait_seconds", dimensions: [("backend", backend == .sqlite ? "sqlite" : "postgresql")])
            .record(duration: ContinuousClock.now - asked)
    }
}

/// SQLite's write-ahead log. By default the transaction whose commit takes the log past 1,000 pages copies it into
/// the database file before returning (after a 100,000-row import, half a second of the request). While
/// `roster serve` runs `StoreMaintenance`, its write transactions leave that to the maintenance task instead.
public enum WriteAheadLog {
    private static let background = Atomic<Bool>(false)

    /// Whether a background task checkpoints the log (so committing transactions do not).
    public static var checkpointsInBackground: Bool {
        get { background.load(ordering: .relaxed) }
        set { background.store(newValue, ordering: .relaxed) }
    }

    /// Copies what it can of the log into the database without waiting for readers or writers (`PASSIVE`).
    public static func checkpoint(_ db: any Database) async throws {
        try await db.sql.raw("PRAGMA wal_checkpoint(PASSIVE)").run()
    }
}

/// The unique constraints whose violation is a user-facing conflict, and the problem each one answers with.
///
/// This is the one place where database constraint failures become problem codes.
public enum UniqueConstraint: String, CaseIterable, Sendable {
    case accountEmail = "accounts_email_key"
    case organizationSlug = "organizations_slug_key"
    case spaceSlug = "spaces_org_slug_key"
    case roleKey = "roles_org_ladder_key_key"
    case liveAccount = "memberships_live_account_key"
    case liveEmail = "memberships_live_email_key"
    case liveExternalID = "memberships_live_external_id_key"
    case organizationDomain = "organization_domains_org_domain_key"
    case verifiedDomain = "organization_domains_verified_key"
    case scimUserName = "scim_users_org_user_name_key"
    case scimExternalID = "scim_users_org_external_id_key"

    /// The constraint or index name in the schema.
    public var name: String { rawValue }

    /// How SQLite names the failure in its message (`UNIQUE constraint failed: …`).
    var sqliteSignature: String {
        switch self {
        case .accountEmail: "accounts.email"
        case .organizationSlug: "organizations.slug"
        case .spaceSlug: "spaces.org_id, spaces.slug"
        case .roleKey: "roles.org_id, roles.ladder, roles.key"
        case .liveAccount: "memberships.scope_id, memberships.account_id"
        case .liveEmail: "memberships.scope_id, memberships.email"
        case .liveExternalID: "memberships.scope_id, memberships.external_id"
        case .organizationDomain: "organization_domains.org_id, organization_domains.domain"
        case .verifiedDomain: "organization_domains.domain"
        case .scimUserName: "scim_users.org_id, scim_users.user_name"
        case .scimExternalID: "scim_users.org_id, scim_users.external_id"
        }
    }

    /// The refusal a violation of this constraint means.
    public var error: RosterError {
        switch self {
        case .accountEmail: RosterError(.emailTaken, "An account with this email address already exists.")
        case .organizationSlug: RosterError(.slugTaken, "Another organization already uses this slug.")
        case .spaceSlug: RosterError(.slugTaken, "Another space of this organization already uses this slug.")
        case .roleKey: RosterError(.conflict, "A role with this key already exists on this ladder.")
        case .liveAccount, .liveEmail: UniqueRule.personTaken
        case .liveExternalID: UniqueRule.externalIDTaken
        case .organizationDomain: RosterError(.conflict, "This organization already has this domain.")
        case .verifiedDomain: RosterError(.domainTaken, "Another organization has verified this domain.")
        case .scimUserName: RosterError(.alreadyMember, "A user with this userName already exists in this organization.")
        case .scimExternalID: UniqueRule.externalIDTaken
        }
    }

    /// `error` translated to a `RosterError` when it is a known constraint failure; otherwise `error` unchanged.
    public static func mapped(_ error: any Error) -> any Error {
        guard let dbError = error as? any DatabaseError, dbError.isConstraintFailure else { return error }
        if let psql = error as? PSQLError, let name = psql.serverInfo?[.constraintName] {
            return allCases.first { $0.name == name }?.error ?? RosterError(.conflict, "The change conflicts with existing data.")
        }
        if let sqlite = error as? SQLiteError {
            return allCases.first { sqlite.message.contains($0.sqliteSignature) || sqlite.message.contains("'\($0.name)'") }?.error
                ?? RosterError(.conflict, "The change conflicts with existing data.")
        }
        return RosterError(.conflict, "The change conflicts with existing data.")
    }
}

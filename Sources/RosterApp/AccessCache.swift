import Vapor
import Fluent
import NIOConcurrencyHelpers
import RosterCore
import RosterStore

/// The hot path of `POST /v1/authorize`: (account, organization) → active role, cached in process.
///
/// An entry remembers the `ChangeGeneration` it was read at and is used only while the generation has not moved,
/// so no answer is served from data older than the last committed change on this instance (and, on PostgreSQL,
/// on any instance, once its notification has arrived).
final class AccessCache: Sendable {
    struct Answer: Sendable {
        var orgID: UUID
        var role: RoleDefinition
    }

    private struct Entry {
        var generation: UInt64
        var answer: Answer?
    }

    private let entries = NIOLockedValueBox([String: Entry]())
    private let generation: ChangeGeneration
    private let capacity = 200_000

    init(generation: ChangeGeneration = .shared) {
        self.generation = generation
    }

    private struct KeyEntry {
        var generation: UInt64
        var loadedAt: ContinuousClock.Instant
        var principal: Principal?
    }

    private let keys = NIOLockedValueBox([String: KeyEntry]())

    /// How long an API key answer may be reused when no change was seen. Revocations made by this instance or
    /// (on PostgreSQL) announced by any other take effect at once; a revocation written to SQLite by another
    /// process (`roster keys revoke`) takes effect within this time.
    static let apiKeyReuse: Duration = .seconds(1)

    /// The live API key with this hash, as a principal; nil when unknown or revoked.
    func apiKey(hash: String, on db: any Database) async throws -> Principal? {
        if let cached = cachedAPIKey(hash: hash) { return cached }
        let seen = generation.current
        let now = ContinuousClock.now
        let principal = try await AccountStore(db).apiKey(keyHash: hash).flatMap { key in key.id.map { Principal.apiKey(id: $0, name: key.name) } }
        keys.withLockedValue { keys in
            if keys.count >= 10_000 { keys.removeAll(keepingCapacity: true) }
            keys[hash] = KeyEntry(generation: seen, loadedAt: now, principal: principal)
        }
        return principal
    }

    /// The cached answer for an API key, without suspending: `.some(nil)` is a cached "unknown or revoked",
    /// `nil` means "not cached, ask `apiKey(hash:on:)`".
    func cachedAPIKey(hash: String) -> Principal?? {
        guard let entry = keys.withLockedValue({ $0[hash] }), entry.generation == generation.current,
              ContinuousClock.now - entry.loadedAt < Self.apiKeyReuse else { return nil }
        return .some(entry.principal)
    }

    /// The cached role answer, without suspending; nil when not cached (see `cachedAPIKey`).
    func cachedRole(accountID: UUID, orgRef: String) -> Answer?? {
        guard let entry = entries.withLockedValue({ $0[Self.key(accountID, orgRef)] }), entry.generation == generation.current else { return nil }
        return .some(entry.answer)
    }

    private static func key(_ accountID: UUID, _ orgRef: String) -> String { "\(accountID.uuidString)|\(orgRef.lowercased())" }

    /// The active org role of `accountID` in the organization `orgRef` (id or slug); nil when none.
    func role(accountID: UUID, orgRef: String, on db: any Database) async throws -> Answer? {
        if let cached = cachedRole(accountID: accountID, orgRef: orgRef) { return cached }
        let key = Self.key(accountID, orgRef)
        let seen = generation.current
        let answer = try await load(accountID: accountID, orgRef: orgRef, on: db)
        entries.withLockedValue { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(generation: seen, answer: answer)
        }
        return answer
    }

    private func load(accountID: UUID, orgRef: String, on db: any Database) async throws -> Answer? {
        guard let row = try await ActiveRoleQuery(db).run(accountID: accountID, orgRef: orgRef) else { return nil }
        return Answer(orgID: row.orgID, role: row.role)
    }
}

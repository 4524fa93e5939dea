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
    /// What a permission check is about: an organization (id or slug) or a space (id).
    enum Target: Sendable {
        case org(String)
        case space(UUID)

        var cacheKey: String {
            switch self {
            case .org(let ref): "org:" + ref.lowercased()
            case .space(let id): "space:" + id.uuidString
            }
        }
    }

    /// The caller-independent answer: effective permissions and the role held on the target itself.
    struct Answer: Sendable {
        var permissions: Set<Permission>
        var role: String?
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

    /// How long an API key answer may be reused when no change of keys was seen (`ChangeGeneration.apiKeys`; other
    /// writes, e.g. the members an identity provider creates with the key, leave it cached). Revocations made by this instance or
    /// (on PostgreSQL) announced by any other take effect at once; a revocation written to SQLite by another
    /// process (`roster keys revoke`) takes effect within this time.
    static let apiKeyReuse: Duration = .seconds(1)

    /// The live API key with this hash, as a principal; nil when unknown or revoked.
    func apiKey(hash: String, on db: any Database) async throws -> Principal? {
        if let cached = cachedAPIKey(hash: hash) { return cached }
        let seen = generation.apiKeys
        let now = ContinuousClock.now
        let key = try await AccountStore(db).apiKey(keyHash: hash)
        let principal = key.flatMap { key in
            key.id.map { id in
                Principal.apiKey(id: id, name: key.name, organization: key.orgID.map {
                    OrganizationKeyScope(orgID: $0, permissions: key.permissionSet, spaceIDs: key.spaceIDSet)
                })
            }
        }
        if let key, let id = key.id, (key.lastUsedAt ?? .distantPast) < Date().addingTimeInterval(-60) {
            // Best effort: a busy writer (a long import on SQLite) must not fail or hold up the request it authenticates.
            Task { try? await AccountStore(db).markUsed(apiKey: id, at: Date()) }
        }
        keys.withLockedValue { keys in
            if keys.count >= 10_000 { keys.removeAll(keepingCapacity: true) }
            keys[hash] = KeyEntry(generation: seen, loadedAt: now, principal: principal)
        }
        return principal
    }

    /// The cached answer for an API key, without suspending: `.some(nil)` is a cached "unknown or revoked",
    /// `nil` means "not cached, ask `apiKey(hash:on:)`".
    func cachedAPIKey(hash: String) -> Principal?? {
        guard let entry = keys.withLockedValue({ $0[hash] }), entry.generation == generation.apiKeys,
              ContinuousClock.now - entry.loadedAt < Self.apiKeyReuse else { return nil }
        return .some(entry.principal)
    }

    /// The cached answer, without suspending; nil when not cached (see `cachedAPIKey`).
    func cachedAnswer(accountID: UUID, target: Target) -> Answer?? {
        guard let entry = entries.withLockedValue({ $0[Self.key(accountID, target)] }), entry.generation == generation.current else { return nil }
        return .some(entry.answer)
    }

    private static func key(_ accountID: UUID, _ target: Target) -> String { "\(accountID.uuidString)|\(target.cacheKey)" }

    /// The active org role of `accountID` in the organization `orgRef` (id or slug); nil when none.
    func answer(accountID: UUID, target: Target, on db: any Database) async throws -> Answer? {
        if let cached = cachedAnswer(accountID: accountID, target: target) { return cached }
        let key = Self.key(accountID, target)
        let seen = generation.current
        let answer = try await load(accountID: accountID, target: target, on: db)
        entries.withLockedValue { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(generation: seen, answer: answer)
        }
        return answer
    }

    private func load(accountID: UUID, target: Target, on db: any Database) async throws -> Answer? {
        switch target {
        case .org(let ref):
            guard let row = try await ActiveRoleQuery(db).run(accountID: accountID, orgRef: ref) else { return nil }
            return Answer(permissions: Authority.onOrganization(role: row.role).permissions, role: row.role.key)
        case .space(let spaceID):
            guard let space = try await SpaceModel.query(on: db).filter(\.$id == spaceID).filter(\.$deletedAt == nil).first() else { return nil }
            let orgRole = try await ActiveRoleQuery(db).run(accountID: accountID, orgRef: space.orgID.uuidString)?.role
            let store = MembershipStore(db)
            let spaceKey = try await store.activeRoleKey(accountID: accountID, scopeID: spaceID)
            let spaceRole = try await spaceKey.asyncFlatMap { key in try await store.ladder(orgID: space.orgID, .space).role(key) }
            let authority = Authority.onSpace(orgRole: orgRole, spaceRole: spaceRole)
            guard authority.canSee else { return nil }
            return Answer(permissions: authority.permissions, role: spaceRole?.key)
        }
    }
}

extension Optional where Wrapped: Sendable {
    func asyncFlatMap<T>(_ transform: (Wrapped) async throws -> T?) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

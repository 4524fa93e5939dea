import Foundation
import Testing
import Fluent
import SQLKit
import RosterCore
import RosterStore
import RosterStoreTesting

/// The hot queries' SQL, pinned: a change to them is a deliberate, reviewed change.
@Suite struct PinnedSQLTests {
    func serialize(_ query: any SQLExpression, on db: any SQLDatabase) -> String {
        var serializer = SQLSerializer(database: db)
        query.serialize(to: &serializer)
        return serializer.sql
    }

    @Test(arguments: TestBackend.available)
    func theAuthorizeQuery(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let sql = serialize(ActiveRoleQuery(db).query(accountID: UUID(), orgRef: "acme"), on: db.sql)
            let p = backend == .postgres ? ["$1", "$2"] : ["?1", "?2"]
            #expect(sql == "SELECT o.id AS org_id, r.key AS key, r.name AS name, r.rank AS rank, r.permissions AS permissions FROM organizations o JOIN memberships m ON m.scope_id = o.id AND m.status = 'active' JOIN roles r ON r.org_id = o.id AND r.ladder = 'org' AND r.key = m.role_key WHERE o.slug = \(p[0]) AND o.deleted_at IS NULL AND m.account_id = \(p[1])")
        }
    }

    @Test(arguments: TestBackend.available)
    func theMembersPageQuery(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            var filter = MemberListFilter(scopeID: UUID(), limit: 100)
            filter.search = "ada"
            filter.cursor = PageCursor(key: "a@example.com", id: UUID())
            let sql = serialize(MemberList(db).query(filter).query, on: db.sql)
            let q = "\""
            let p: (Int) -> String = { backend == .postgres ? "$\($0)" : "?\($0)" }
            #expect(sql == "SELECT * FROM \(q)memberships\(q) WHERE \(backend == .sqlite ? "+scope_id" : "\"scope_id\"") = \(p(1)) AND (\(q)status\(q) = \(p(2)) OR (\(q)status\(q) = \(p(3)) AND \(q)source\(q) = \(p(4)))) AND lower(coalesce(name, '') || ' ' || email || ' ' || coalesce(external_id, '')) LIKE \(p(5)) ESCAPE '\\' \(backend == .sqlite ? "AND rowid IN (SELECT rowid FROM memberships_search WHERE memberships_search MATCH ?6) AND (email, id) > (?7, ?8)" : "AND id IN (SELECT membership_id FROM memberships_search WHERE scope_id = $6 AND haystack LIKE $7 ESCAPE '\\') AND (email, id) > ($8, $9)") ORDER BY \(q)email\(q) ASC, \(q)id\(q) ASC LIMIT 101")
        }
    }

    /// The consume-once transition every lifecycle plan applies (DESIGN §2 invariant 6), the organization lock
    /// every transition takes first, and the outbox claim several workers share.
    @Test(arguments: TestBackend.available)
    func theTransitionTheLockAndTheOutboxClaim(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let p: (Int) -> String = { backend == .postgres ? "$\($0)" : "?\($0)" }
            let q = "\""
            let update = MembershipPlan.Update(id: UUID(), from: .pending, source: .invitation, to: .active,
                                               set: MembershipChanges(accountID: UUID()), guards: [.email("a@example.com"), .expiresAfter(Date())])
            let transition = serialize(MembershipStore(db).transitionQuery(update, now: Date()).query, on: db.sql)
            #expect(transition == "UPDATE \(q)memberships\(q) SET \(q)status\(q) = \(p(1)), \(q)updated_at\(q) = \(p(2)), \(q)account_id\(q) = \(p(3)) WHERE \(q)id\(q) = \(p(4)) AND \(q)status\(q) = \(p(5)) AND \(q)source\(q) = \(p(6)) AND \(q)email\(q) = \(p(7)) AND \(q)expires_at\(q) > \(p(8)) RETURNING *")
            let lock = serialize(MembershipStore(db).lockQuery(UUID()), on: db.sql)
            // Prepared statements name their columns (`SELECT *` would fail them once a migration adds one).
            let organization = ["id", "name", "slug", "description", "join_policy", "add_policy", "invitation_ttl_days", "seat_limit",
                                "invites_per_hour", "created_at", "updated_at", "deleted_at"].map { "\(q)organizations\(q).\(q)\($0)\(q)" }.joined(separator: ", ")
            #expect(lock == "SELECT \(organization) FROM organizations WHERE id = \(p(1)) AND deleted_at IS NULL\(backend == .postgres ? " FOR UPDATE" : "")")
            // The lock of every decision, reading the ladder (a row per role) and whether a domain is verified.
            let lockAndRules = serialize(MembershipStore(db).lockQuery(UUID(), ladder: .org, domain: "acme.com"), on: db.sql)
            #expect(lockAndRules == "SELECT \(organization), organizations.rules_version AS rules_version, "
                + "(SELECT seen.rules_version FROM organizations AS seen WHERE seen.id = organizations.id) AS rules_version_read, "
                + "roles.key AS role_key, roles.name AS role_name, roles.rank AS role_rank, roles.permissions AS role_permissions, "
                + "EXISTS (SELECT 1 FROM organization_domains WHERE organization_domains.org_id = organizations.id "
                + "AND organization_domains.domain = \(p(1)) AND organization_domains.verified_at IS NOT NULL) AS domain_verified "
                + "FROM organizations LEFT JOIN roles ON roles.org_id = organizations.id AND roles.ladder = \(p(2)) "
                + "WHERE organizations.id = \(p(3)) AND organizations.deleted_at IS NULL\(backend == .postgres ? " FOR UPDATE OF organizations" : "")")
            let invitee = serialize(MembershipStore(db).inviteeQuery(email: "a@example.com", externalID: nil, scope: ScopeRef(orgID: UUID())), on: db.sql)
            let membership = ["id", "org_id", "space_id", "scope_id", "account_id", "email", "name", "role_key", "status", "source",
                              "external_id", "attributes", "invited_by", "token_hash", "expires_at", "message", "delivery_status",
                              "delivery_at", "delivery_error", "created_at", "updated_at", "ended_at", "invite_link_id"].map { "\(q)memberships\(q).\(q)\($0)\(q)" }.joined(separator: ", ")
            let live = { (n: Int) in "SELECT \(membership) FROM memberships WHERE scope_id = \(p(n)) AND status IN ('pending', 'active') AND" }
            #expect(invitee == "SELECT accounts.id AS invitee_account_id, accounts.name AS invitee_account_name, "
                + "accounts.email_verified_at AS invitee_account_verified_at, held.* FROM (SELECT 1 AS one) AS invitee "
                + "LEFT JOIN accounts ON accounts.email = \(p(1)) LEFT JOIN (\(live(2)) email = \(p(3)) "
                + "UNION ALL SELECT \(membership) FROM memberships WHERE account_id = (SELECT id FROM accounts WHERE email = \(p(4))) "
                + "AND status IN ('pending', 'active') AND scope_id IS NOT DISTINCT FROM \(p(5)) "
                + "UNION ALL \(live(6)) external_id = \(p(7))) AS held ON 1 = 1")
            let claim = serialize(OutboxDelivery(db).claimQuery(limit: 20, now: Date()), on: db.sql)
            #expect(claim == "UPDATE outbox_messages SET status = 'sending', attempts = attempts + 1, claimed_at = \(p(1)) WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'queued' AND next_attempt_at <= \(p(2)) ORDER BY next_attempt_at LIMIT 20\(backend == .postgres ? " FOR UPDATE SKIP LOCKED" : "")) RETURNING *")
        }
    }
}

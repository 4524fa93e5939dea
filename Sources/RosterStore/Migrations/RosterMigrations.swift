import Fluent
import SQLKit

/// Raw statements for one backend, or for both.
private func run(_ database: any Database, sqlite: [String], postgres: [String]) async throws {
    for statement in SQLBackend(database) == .postgres ? postgres : sqlite {
        try await database.sql.raw(SQLQueryString(statement)).run()
    }
}

struct CreateOrganizations: AsyncMigration {
    var name: String { "2026-11-22-006-create-organizations" }

    func prepare(on database: any Database) async throws {
        try await database.schema(OrganizationModel.schema)
            .id()
            .field("name", .string, .required)
            .field("slug", .string, .required)
            .field("description", .string, .required)
            .field("join_policy", .string, .required)
            .field("add_policy", .string, .required)
            .field("invitation_ttl_days", .int, .required)
            .field("seat_limit", .int)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .field("deleted_at", .datetime)
            .create()
        let index = "CREATE UNIQUE INDEX \(UniqueConstraint.organizationSlug.name) ON organizations (slug) WHERE deleted_at IS NULL"
        try await run(database, sqlite: [index], postgres: [index])
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OrganizationModel.schema).delete()
    }
}

struct CreateRoles: AsyncMigration {
    var name: String { "2026-11-22-007-create-roles" }

    func prepare(on database: any Database) async throws {
        try await database.schema(RoleModel.schema)
            .id()
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("ladder", .string, .required)
            .field("key", .string, .required)
            .field("name", .string, .required)
            .field("rank", .int, .required)
            .field("permissions", .string, .required)
            .unique(on: "org_id", "ladder", "key", name: "roles_org_ladder_key_key")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(RoleModel.schema).delete()
    }
}

struct CreateMemberships: AsyncMigration {
    var name: String { "2026-11-22-008-create-memberships" }

    func prepare(on database: any Database) async throws {
        try await database.schema(MembershipModel.schema)
            .id()
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("space_id", .uuid)
            .field("scope_id", .uuid, .required)
            .field("account_id", .uuid, .references(AccountModel.schema, "id", onDelete: .setNull))
            .field("email", .string, .required)
            .field("name", .string)
            .field("role_key", .string, .required)
            .field("status", .string, .required)
            .field("source", .string, .required)
            .field("external_id", .string)
            .field("attributes", .string, .required)
            .field("invited_by", .uuid)
            .field("token_hash", .string)
            .field("expires_at", .datetime)
            .field("message", .string)
            .field("delivery_status", .string)
            .field("delivery_error", .string)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .field("ended_at", .datetime)
            .create()
        let live = "status IN ('pending', 'active')"
        let common = [
            // DESIGN §2 invariants 2 and 3: one live row per scope and account, per scope and email, per scope and external ID.
            "CREATE UNIQUE INDEX \(UniqueConstraint.liveAccount.name) ON memberships (scope_id, account_id) WHERE \(live) AND account_id IS NOT NULL",
            "CREATE UNIQUE INDEX \(UniqueConstraint.liveEmail.name) ON memberships (scope_id, email) WHERE \(live)",
            "CREATE UNIQUE INDEX \(UniqueConstraint.liveExternalID.name) ON memberships (scope_id, external_id) WHERE \(live) AND external_id IS NOT NULL",
            "CREATE UNIQUE INDEX memberships_token_hash_key ON memberships (token_hash) WHERE token_hash IS NOT NULL",
            "CREATE INDEX memberships_scope_email_idx ON memberships (scope_id, email, id)",
            "CREATE INDEX memberships_account_idx ON memberships (account_id, status)",
            "CREATE INDEX memberships_email_idx ON memberships (email, status)",
            "CREATE INDEX memberships_org_role_idx ON memberships (org_id, role_key, status)",
            "CREATE INDEX memberships_pending_expiry_idx ON memberships (scope_id, expires_at) WHERE status = 'pending'",
        ]
        try await run(database, sqlite: common, postgres: common + [
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            "CREATE INDEX memberships_search_idx ON memberships USING gin ((lower(coalesce(name, '') || ' ' || email || ' ' || coalesce(external_id, ''))) gin_trgm_ops)",
        ])
    }

    func revert(on database: any Database) async throws {
        try await database.schema(MembershipModel.schema).delete()
    }
}

struct CreateAuditEvents: AsyncMigration {
    var name: String { "2026-11-22-009-create-audit-events" }

    func prepare(on database: any Database) async throws {
        try await database.schema(AuditEventModel.schema)
            .id()
            .field("at", .datetime, .required)
            .field("actor_type", .string, .required)
            .field("actor_id", .uuid)
            .field("action", .string, .required)
            .field("org_id", .uuid, .required)
            .field("space_id", .uuid)
            .field("membership_id", .uuid)
            .field("target_account_id", .uuid)
            .field("target_email", .string)
            .field("before", .string)
            .field("after", .string)
            .field("request_id", .string)
            .create()
        let index = "CREATE INDEX audit_events_org_at_idx ON audit_events (org_id, at, id)"
        try await run(database, sqlite: [index], postgres: [index])
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AuditEventModel.schema).delete()
    }
}

struct CreateOutboxMessages: AsyncMigration {
    var name: String { "2026-11-22-010-create-outbox-messages" }

    func prepare(on database: any Database) async throws {
        try await database.schema(OutboxMessageModel.schema)
            .id()
            .field("kind", .string, .required)
            .field("org_id", .uuid)
            .field("membership_id", .uuid)
            .field("recipient", .string, .required)
            .field("subject", .string, .required)
            .field("text_body", .string, .required)
            .field("html_body", .string, .required)
            .field("status", .string, .required)
            .field("attempts", .int, .required)
            .field("next_attempt_at", .datetime, .required)
            .field("last_error", .string)
            .field("created_at", .datetime, .required)
            .field("sent_at", .datetime)
            .create()
        let statements = [
            "CREATE INDEX outbox_messages_due_idx ON outbox_messages (status, next_attempt_at)",
            "CREATE INDEX outbox_messages_org_kind_idx ON outbox_messages (org_id, kind, created_at)",
        ]
        try await run(database, sqlite: statements, postgres: statements)
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OutboxMessageModel.schema).delete()
    }
}

struct IndexAuditEventsByID: AsyncMigration {
    var name: String { "2026-11-22-011-index-audit-events-by-id" }

    func prepare(on database: any Database) async throws {
        // Audit ids are time-ordered (UUIDv7); pages are read by (org_id, id) descending.
        let index = "CREATE INDEX audit_events_org_id_idx ON audit_events (org_id, id)"
        try await run(database, sqlite: [index], postgres: [index])
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("DROP INDEX audit_events_org_id_idx").run()
    }
}

/// SQLite only: a trigram full-text index over each membership's name, email and external ID, kept by triggers,
/// so roster searches (`q`) do not scan the scope. PostgreSQL has its pg_trgm index instead.
struct CreateMembershipSearchIndex: AsyncMigration {
    var name: String { "2026-11-22-012-create-membership-search-index" }

    /// The searched text of a row, the same expression the members list matches with LIKE.
    static func haystack(_ row: String) -> String {
        "lower(coalesce(\(row).name, '') || ' ' || \(row).email || ' ' || coalesce(\(row).external_id, ''))"
    }

    func prepare(on database: any Database) async throws {
        let new = Self.haystack("new"), all = Self.haystack("memberships")
        try await run(database, sqlite: [
            "CREATE VIRTUAL TABLE memberships_search USING fts5(haystack, content='', contentless_delete=1, tokenize='trigram')",
            "INSERT INTO memberships_search (rowid, haystack) SELECT rowid, \(all) FROM memberships",
            "CREATE TRIGGER memberships_search_insert AFTER INSERT ON memberships BEGIN INSERT INTO memberships_search (rowid, haystack) VALUES (new.rowid, \(new)); END",
            "CREATE TRIGGER memberships_search_update AFTER UPDATE OF name, email, external_id ON memberships BEGIN DELETE FROM memberships_search WHERE rowid = old.rowid; INSERT INTO memberships_search (rowid, haystack) VALUES (new.rowid, \(new)); END",
            "CREATE TRIGGER memberships_search_delete AFTER DELETE ON memberships BEGIN DELETE FROM memberships_search WHERE rowid = old.rowid; END",
        ], postgres: [])
    }

    func revert(on database: any Database) async throws {
        try await run(database, sqlite: [
            "DROP TRIGGER memberships_search_insert", "DROP TRIGGER memberships_search_update",
            "DROP TRIGGER memberships_search_delete", "DROP TABLE memberships_search",
        ], postgres: [])
    }
}

struct CreateSpaces: AsyncMigration {
    var name: String { "2026-11-22-013-create-spaces" }

    func prepare(on database: any Database) async throws {
        try await database.schema(SpaceModel.schema)
            .id()
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("name", .string, .required)
            .field("slug", .string, .required)
            .field("kind", .string, .required)
            .field("join_policy", .string, .required)
            .field("add_policy", .string, .required)
            .field("seat_limit", .int)
            .field("attributes", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .field("deleted_at", .datetime)
            .create()
        let index = "CREATE UNIQUE INDEX \(UniqueConstraint.spaceSlug.name) ON spaces (org_id, slug) WHERE deleted_at IS NULL"
        try await run(database, sqlite: [index], postgres: [index])
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SpaceModel.schema).delete()
    }
}

/// Stored import reports: the summary and the failed rows as CSV (`GET {scope}/imports/{id}/failures.csv`).
struct CreateImports: AsyncMigration {
    var name: String { "2026-11-30-014-create-imports" }

    func prepare(on database: any Database) async throws {
        try await database.schema("imports")
            .id()
            .field("org_id", .uuid, .required)
            .field("space_id", .uuid)
            .field("scope_id", .uuid, .required)
            .field("actor_type", .string, .required)
            .field("actor_id", .uuid)
            .field("dry_run", .bool, .required)
            .field("created_at", .datetime, .required)
            .field("summary", .string, .required)
            .field("failures_csv", .string, .required)
            .create()
        let statements = ["CREATE INDEX imports_scope_created_idx ON imports (scope_id, created_at)"]
        try await run(database, sqlite: statements, postgres: statements)
    }

    func revert(on database: any Database) async throws {
        try await database.schema("imports").delete()
    }
}

/// Outbox messages carry their template's fields (rendered when delivered) and the time a worker claimed them
/// (a claim older than the lease is given back to the queue).
struct AddOutboxPayloadAndClaim: AsyncMigration {
    var name: String { "2026-11-30-015-add-outbox-payload-and-claim" }

    func prepare(on database: any Database) async throws {
        try await database.schema(OutboxMessageModel.schema).field("payload", .string).update()
        try await database.schema(OutboxMessageModel.schema).field("claimed_at", .datetime).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OutboxMessageModel.schema).deleteField("payload").deleteField("claimed_at").update()
    }
}

/// Search indexing that a bulk import can defer (DESIGN §4 speed): rows an import inserts are indexed for `q`
/// after it commits, by `SearchIndex.catchUp`; until then a search of that scope scans it with `LIKE` instead.
///
/// - SQLite: `search_backlog` holds rowid ranges not yet in `memberships_search`; the triggers skip rows in them.
/// - PostgreSQL: the trigram index moves from `memberships` to a `memberships_search` table kept by a trigger that
///   a transaction turns off with `SET LOCAL roster.defer_search = 'on'`; `search_backlog` holds id ranges.
struct DeferrableMembershipSearch: AsyncMigration {
    var name: String { "2026-11-30-016-deferrable-membership-search" }

    func prepare(on database: any Database) async throws {
        let haystack = CreateMembershipSearchIndex.haystack
        // A row is pending when a backlog range of its scope still covers it.
        func pending(_ row: String) -> String {
            "EXISTS (SELECT 1 FROM search_backlog b WHERE \(row).rowid >= b.next_rowid AND (b.last_rowid IS NULL OR \(row).rowid <= b.last_rowid))"
        }
        try await run(database, sqlite: [
            "CREATE TABLE search_backlog (id INTEGER PRIMARY KEY, scope_id TEXT NOT NULL, next_rowid INTEGER NOT NULL, last_rowid INTEGER)",
            "DROP TRIGGER memberships_search_insert", "DROP TRIGGER memberships_search_update", "DROP TRIGGER memberships_search_delete",
            "CREATE TRIGGER memberships_search_insert AFTER INSERT ON memberships WHEN NOT \(pending("new")) BEGIN INSERT INTO memberships_search (rowid, haystack) VALUES (new.rowid, \(haystack("new"))); END",
            "CREATE TRIGGER memberships_search_update AFTER UPDATE OF name, email, external_id ON memberships WHEN NOT \(pending("old")) BEGIN DELETE FROM memberships_search WHERE rowid = old.rowid; INSERT INTO memberships_search (rowid, haystack) VALUES (new.rowid, \(haystack("new"))); END",
            "CREATE TRIGGER memberships_search_delete AFTER DELETE ON memberships WHEN NOT \(pending("old")) BEGIN DELETE FROM memberships_search WHERE rowid = old.rowid; END",
        ], postgres: [
            "CREATE TABLE search_backlog (id bigserial PRIMARY KEY, scope_id uuid NOT NULL, first_id uuid NOT NULL, last_id uuid NOT NULL, after_id uuid)",
            "CREATE TABLE memberships_search (membership_id uuid PRIMARY KEY REFERENCES memberships (id) ON DELETE CASCADE, scope_id uuid NOT NULL, haystack text NOT NULL)",
            "INSERT INTO memberships_search (membership_id, scope_id, haystack) SELECT id, scope_id, \(haystack("memberships")) FROM memberships",
            // One index on (scope, trigrams): a search finds only its roster's matches, not every roster's.
            "CREATE EXTENSION IF NOT EXISTS btree_gin",
            "CREATE INDEX memberships_search_scope_haystack_idx ON memberships_search USING gin (scope_id, haystack gin_trgm_ops)",
            "DROP INDEX memberships_search_idx",
            """
            CREATE FUNCTION roster_index_membership() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO memberships_search (membership_id, scope_id, haystack) VALUES (NEW.id, NEW.scope_id, \(haystack("NEW")))
              ON CONFLICT (membership_id) DO UPDATE SET haystack = EXCLUDED.haystack;
              RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER memberships_search_sync AFTER INSERT OR UPDATE OF name, email, external_id ON memberships FOR EACH ROW WHEN (current_setting('roster.defer_search', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION roster_index_membership()",
        ])
    }

    func revert(on database: any Database) async throws {
        let haystack = CreateMembershipSearchIndex.haystack
        try await run(database, sqlite: [
            "DROP TRIGGER memberships_search_insert", "DROP TRIGGER memberships_search_update", "DROP TRIGGER memberships_search_delete",
            "DROP TABLE search_backlog",
            "CREATE TRIGGER memberships_search_insert AFTER INSERT ON memberships BEGIN INSERT INTO memberships_search (rowid, haystack) VALUES (new.rowid, \(haystack("new"))); END",
            "CREATE TRIGGER memberships_search_update AFTER UPDATE OF name, email, external_id ON memberships BEGIN DELETE FROM memberships_search WHERE rowid = old.rowid; INSERT INTO memberships_search (rowid, haystack) VALUES (new.rowid, \(haystack("new"))); END",
            "CREATE TRIGGER memberships_search_delete AFTER DELETE ON memberships BEGIN DELETE FROM memberships_search WHERE rowid = old.rowid; END",
        ], postgres: [
            "DROP TRIGGER memberships_search_sync ON memberships", "DROP FUNCTION roster_index_membership()",
            "DROP TABLE memberships_search", "DROP TABLE search_backlog",
            "CREATE INDEX memberships_search_idx ON memberships USING gin ((\(haystack("memberships"))) gin_trgm_ops)",
        ])
    }
}

/// Indexes every imported row paid for without need: `audit_events_org_at_idx` (the audit list pages by
/// `(org_id, id)`, and ids are time-ordered), `memberships_org_role_idx` (only deleting a role used it; that check
/// now goes roster by roster) and the entries of `memberships_account_idx` for rows without an account
/// (invitations; every lookup is by an account id).
struct TrimImportedRowIndexes: AsyncMigration {
    var name: String { "2026-11-30-017-trim-imported-row-indexes" }

    func prepare(on database: any Database) async throws {
        let statements = [
            "DROP INDEX audit_events_org_at_idx",
            "DROP INDEX memberships_org_role_idx",
            "DROP INDEX memberships_account_idx",
            "CREATE INDEX memberships_account_idx ON memberships (account_id, status) WHERE account_id IS NOT NULL",
        ]
        try await run(database, sqlite: statements, postgres: statements)
    }

    func revert(on database: any Database) async throws {
        let statements = [
            "DROP INDEX memberships_account_idx",
            "CREATE INDEX memberships_account_idx ON memberships (account_id, status)",
            "CREATE INDEX audit_events_org_at_idx ON audit_events (org_id, at, id)",
            "CREATE INDEX memberships_org_role_idx ON memberships (org_id, role_key, status)",
        ]
        try await run(database, sqlite: statements, postgres: statements)
    }
}

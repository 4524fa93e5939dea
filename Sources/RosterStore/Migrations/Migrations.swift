import Fluent
import SQLKit

/// Every migration, in the order it must run. Never edit a landed migration: append a new one.
public enum RosterMigrations {
    public static let all: [any AsyncMigration] = [
        CreateAccounts(),
        CreateSessions(),
        CreateAPIKeys(),
        CreateEmailVerifications(),
        CreateSignInFailures(),
        CreateOrganizations(),
        CreateRoles(),
        CreateMemberships(),
        CreateAuditEvents(),
        CreateOutboxMessages(),
        IndexAuditEventsByID(),
        CreateMembershipSearchIndex(),
        CreateSpaces(),
        CreateImports(),
        AddOutboxPayloadAndClaim(),
        DeferrableMembershipSearch(),
        TrimImportedRowIndexes(),
        EndRowsOfDeletedScopes(),
        CreatePasswordResets(),
        AddInvitationBudget(),
        StoreBooleanAttributes(),
        AddEventSequence(),
        CreateWebhooks(),
        AddOrganizationAPIKeys(),
        AddWebhookLeaseToken(),
        CreateInviteLinks(),
        CreateOrganizationDomains(),
        CreateSCIMResources(),
        AddDomainBackfill(),
        AddRulesVersion(),
        NarrowRulesVersionTriggers(),
        AddMembershipInviteLink(),
    ]
}

struct CreateAccounts: AsyncMigration {
    var name: String { "2026-11-22-001-create-accounts" }

    func prepare(on database: any Database) async throws {
        try await database.schema(AccountModel.schema)
            .id()
            .field("email", .string, .required)
            .field("name", .string, .required)
            .field("password_hash", .string, .required)
            .field("email_verified_at", .datetime)
            .field("is_platform_admin", .bool, .required, .sql(.default(false)))
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "email", name: UniqueConstraint.accountEmail.name)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AccountModel.schema).delete()
    }
}

struct CreateSessions: AsyncMigration {
    var name: String { "2026-11-22-002-create-sessions" }

    func prepare(on database: any Database) async throws {
        try await database.schema(SessionModel.schema)
            .id()
            .field("account_id", .uuid, .required, .references(AccountModel.schema, "id", onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("created_at", .datetime)
            .field("expires_at", .datetime, .required)
            .unique(on: "token_hash", name: "sessions_token_hash_key")
            .create()
        try await (database as! any SQLDatabase)
            .raw("CREATE INDEX sessions_account_id_idx ON sessions (account_id)").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SessionModel.schema).delete()
    }
}

struct CreateAPIKeys: AsyncMigration {
    var name: String { "2026-11-22-003-create-api-keys" }

    func prepare(on database: any Database) async throws {
        try await database.schema(APIKeyModel.schema)
            .id()
            .field("name", .string, .required)
            .field("key_hash", .string, .required)
            .field("key_prefix", .string, .required)
            .field("created_at", .datetime)
            .field("revoked_at", .datetime)
            .unique(on: "key_hash", name: "api_keys_key_hash_key")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(APIKeyModel.schema).delete()
    }
}

struct CreateEmailVerifications: AsyncMigration {
    var name: String { "2026-11-22-004-create-email-verifications" }

    func prepare(on database: any Database) async throws {
        try await database.schema(EmailVerificationModel.schema)
            .id()
            .field("account_id", .uuid, .required, .references(AccountModel.schema, "id", onDelete: .cascade))
            .field("email", .string, .required)
            .field("token_hash", .string, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .field("created_at", .datetime)
            .unique(on: "token_hash", name: "email_verifications_token_hash_key")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(EmailVerificationModel.schema).delete()
    }
}

struct CreateSignInFailures: AsyncMigration {
    var name: String { "2026-11-22-005-create-sign-in-failures" }

    func prepare(on database: any Database) async throws {
        try await database.schema(SignInFailureModel.schema)
            .field("email", .string, .identifier(auto: false))
            .field("failures", .int, .required)
            .field("window_start", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SignInFailureModel.schema).delete()
    }
}

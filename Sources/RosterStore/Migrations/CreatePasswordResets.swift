import Fluent

/// One-time password reset links (issue 13, point 5).
struct CreatePasswordResets: AsyncMigration {
    var name: String { "2026-12-06-019-create-password-resets" }

    func prepare(on database: any Database) async throws {
        try await database.schema(PasswordResetModel.schema)
            .id()
            .field("account_id", .uuid, .required, .references(AccountModel.schema, "id", onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .field("created_at", .datetime, .required)
            .unique(on: "token_hash", name: "password_resets_token_hash_key")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(PasswordResetModel.schema).delete()
    }
}

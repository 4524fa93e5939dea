import Fluent
import SQLKit

/// Shareable invite links of organizations and spaces (issue 16, point 1): the code stored hashed, a role, optional
/// limits (uses, expiry, email domains), and whether joining needs a reviewer's approval.
struct CreateInviteLinks: AsyncMigration {
    var name: String { "2026-12-07-026-create-invite-links" }

    func prepare(on database: any Database) async throws {
        try await database.schema(InviteLinkModel.schema)
            .id()
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("space_id", .uuid)
            .field("scope_id", .uuid, .required)
            .field("code_hash", .string, .required)
            .field("role_key", .string, .required)
            .field("max_uses", .int)
            .field("uses", .int, .required)
            .field("expires_at", .datetime)
            .field("allowed_domains", .string)
            .field("requires_approval", .bool, .required)
            .field("created_by", .uuid)
            .field("created_at", .datetime, .required)
            .field("revoked_at", .datetime)
            .unique(on: "code_hash")
            .create()
        try await database.sql.raw("CREATE INDEX invite_links_scope_idx ON invite_links (scope_id, created_at)").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(InviteLinkModel.schema).delete()
    }
}

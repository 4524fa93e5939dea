import Fluent
import SQLKit

/// Organization API keys (issue 15, point 3): a key may belong to one organization, with a subset of the permission
/// catalogue and optionally some of its spaces; every key shows when it was last used.
struct AddOrganizationAPIKeys: AsyncMigration {
    var name: String { "2026-12-07-024-add-organization-api-keys" }

    func prepare(on database: any Database) async throws {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for (field, type) in [("org_id", DatabaseSchema.DataType.uuid), ("permissions", .string), ("space_ids", .string),
                              ("created_by", .uuid), ("last_used_at", .datetime)] {
            try await database.schema(APIKeyModel.schema).field(FieldKey(stringLiteral: field), type).update()
        }
        try await database.sql.raw("CREATE INDEX api_keys_org_idx ON api_keys (org_id) WHERE org_id IS NOT NULL").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("DROP INDEX api_keys_org_idx").run()
        for field in ["last_used_at", "created_by", "space_ids", "permissions", "org_id"] {
            try await database.schema(APIKeyModel.schema).deleteField(FieldKey(stringLiteral: field)).update()
        }
    }
}

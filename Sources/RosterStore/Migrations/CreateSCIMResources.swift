import Fluent
import SQLKit

/// SCIM resources (issue 16, point 3): the identity provider's users, one per email per organization, with the
/// membership each provisioned; and the external IDs of spaces provisioned as groups.
struct CreateSCIMResources: AsyncMigration {
    var name: String { "2026-12-07-028-create-scim-resources" }

    func prepare(on database: any Database) async throws {
        try await database.schema(SCIMUserModel.schema)
            .id()
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("user_name", .string, .required)
            .field("external_id", .string)
            .field("given_name", .string)
            .field("family_name", .string)
            .field("display_name", .string)
            .field("active", .bool)
            .field("membership_id", .uuid)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "org_id", "user_name", name: "scim_users_org_user_name_key")
            .create()
        try await database.sql.raw("""
            CREATE UNIQUE INDEX scim_users_org_external_id_key ON scim_users (org_id, external_id) WHERE external_id IS NOT NULL
            """).run()
        try await database.schema(SCIMGroupModel.schema)
            .field("id", .uuid, .identifier(auto: false))
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("external_id", .string)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SCIMGroupModel.schema).delete()
        try await database.schema(SCIMUserModel.schema).delete()
    }
}

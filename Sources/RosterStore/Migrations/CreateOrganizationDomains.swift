import Fluent
import SQLKit

/// Email domains of organizations (issue 16, point 2). A domain may be claimed by several organizations but verified
/// by one at most: a partial unique index on the verified ones.
struct CreateOrganizationDomains: AsyncMigration {
    var name: String { "2026-12-07-027-create-organization-domains" }

    func prepare(on database: any Database) async throws {
        try await database.schema(OrganizationDomainModel.schema)
            .id()
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("domain", .string, .required)
            .field("token", .string, .required)
            .field("policy", .string, .required)
            .field("role_key", .string)
            .field("verified_at", .datetime)
            .field("checked_at", .datetime)
            .field("check_result", .string)
            .field("created_by", .uuid)
            .field("created_at", .datetime, .required)
            .unique(on: "org_id", "domain", name: "organization_domains_org_domain_key")
            .create()
        try await database.sql.raw("""
            CREATE UNIQUE INDEX organization_domains_verified_key ON organization_domains (domain) WHERE verified_at IS NOT NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OrganizationDomainModel.schema).delete()
    }
}

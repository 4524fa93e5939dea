import Fluent

/// Where an `auto` domain's joining of existing accounts stands (`OrganizationDomainModel.backfillAfter`), so the
/// worker goes on with what a request began.
struct AddDomainBackfill: AsyncMigration {
    var name: String { "2026-12-07-029-add-domain-backfill" }

    func prepare(on database: any Database) async throws {
        try await database.schema(OrganizationDomainModel.schema).field("backfill_after", .uuid).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OrganizationDomainModel.schema).deleteField("backfill_after").update()
    }
}

import Fluent
import SQLKit

/// Webhook endpoints and their delivery log (issue 15, point 2). An endpoint's `cursor` is the number of the last
/// event of its organization it has handled (`EventSequence`): deliveries follow the audit log in commit order, so
/// nothing is queued per event and a rolled-back change has nothing to send.
struct CreateWebhooks: AsyncMigration {
    var name: String { "2026-12-07-023-create-webhooks" }

    func prepare(on database: any Database) async throws {
        try await database.schema(WebhookEndpointModel.schema)
            .id()
            .field("org_id", .uuid, .required, .references(OrganizationModel.schema, "id", onDelete: .cascade))
            .field("url", .string, .required)
            .field("description", .string, .required)
            .field("event_types", .string)
            .field("enabled", .bool, .required)
            .field("secret", .string, .required)
            .field("previous_secret", .string)
            .field("previous_secret_until", .datetime)
            .field("cursor", .int64, .required)
            .field("attempts", .int, .required)
            .field("next_attempt_at", .datetime)
            .field("failing_since", .datetime)
            .field("lease_until", .datetime)
            .field("disabled_reason", .string)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .create()
        try await database.sql.raw("CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (org_id)").run()
        try await database.schema(WebhookDeliveryModel.schema)
            .id()
            .field("endpoint_id", .uuid, .required, .references(WebhookEndpointModel.schema, "id", onDelete: .cascade))
            .field("event_id", .uuid, .required)
            .field("event_seq", .int64, .required)
            .field("event_type", .string, .required)
            .field("attempt", .int, .required)
            .field("status", .string, .required)
            .field("response_status", .int)
            .field("duration_ms", .int)
            .field("error", .string)
            .field("redelivery", .bool, .required)
            .field("at", .datetime, .required)
            .create()
        try await database.sql.raw("CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id)").run()
        try await database.sql.raw("CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (at) WHERE status = 'pending'").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(WebhookDeliveryModel.schema).delete()
        try await database.schema(WebhookEndpointModel.schema).delete()
    }
}

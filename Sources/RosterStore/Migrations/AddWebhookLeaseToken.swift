import Fluent
import SQLKit

/// A webhook endpoint's lease names its holder (`lease_token`): a worker renews and settles only its own lease, so a
/// slow worker whose lease ran out cannot move the cursor of the worker that took the endpoint over.
struct AddWebhookLeaseToken: AsyncMigration {
    var name: String { "2026-12-07-025-add-webhook-lease-token" }

    func prepare(on database: any Database) async throws {
        try await database.schema(WebhookEndpointModel.schema).field("lease_token", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(WebhookEndpointModel.schema).deleteField("lease_token").update()
    }
}

import Fluent
import SQLKit

/// Invitation emails take slots in their organization's hourly budget (issue 13, point 4): the slot on the outbox
/// message and on the invitation it announces, and an organization's own budget. The budget's read replaces the
/// hourly count's index; the outbox is also indexed by membership, for superseding an invitation's emails.
struct AddInvitationBudget: AsyncMigration {
    var name: String { "2026-12-07-020-add-invitation-budget" }

    func prepare(on database: any Database) async throws {
        try await database.schema(OrganizationModel.schema).field("invites_per_hour", .int).update()
        try await database.schema(OutboxMessageModel.schema).field("scheduled_at", .datetime).update()
        try await database.schema(MembershipModel.schema).field("delivery_at", .datetime).update()
        for statement in [
            "DROP INDEX outbox_messages_org_kind_idx",
            "CREATE INDEX outbox_messages_budget_idx ON outbox_messages (org_id, scheduled_at) WHERE scheduled_at IS NOT NULL",
            "CREATE INDEX outbox_messages_membership_idx ON outbox_messages (membership_id) WHERE membership_id IS NOT NULL",
        ] {
            try await database.sql.raw(SQLQueryString(statement)).run()
        }
    }

    func revert(on database: any Database) async throws {
        for statement in [
            "DROP INDEX outbox_messages_membership_idx", "DROP INDEX outbox_messages_budget_idx",
            "CREATE INDEX outbox_messages_org_kind_idx ON outbox_messages (org_id, kind, created_at)",
        ] {
            try await database.sql.raw(SQLQueryString(statement)).run()
        }
        try await database.schema(MembershipModel.schema).deleteField("delivery_at").update()
        try await database.schema(OutboxMessageModel.schema).deleteField("scheduled_at").update()
        try await database.schema(OrganizationModel.schema).deleteField("invites_per_hour").update()
    }
}

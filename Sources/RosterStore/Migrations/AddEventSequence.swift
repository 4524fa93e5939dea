import Fluent
import SQLKit

/// Each organization numbers its events in commit order (issue 15): `organizations.event_seq` is the last number
/// given, `audit_events.seq` each event's. Existing events are numbered in the order of their ids. The audit log's
/// index by organization and id becomes one by organization and number (the log pages by number; an imported row
/// still pays one index entry).
struct AddEventSequence: AsyncMigration {
    var name: String { "2026-12-07-022-add-event-sequence" }

    func prepare(on database: any Database) async throws {
        try await database.schema(OrganizationModel.schema).field("event_seq", .int64, .required, .sql(.default(0))).update()
        try await database.schema(AuditEventModel.schema).field("seq", .int64).update()
        for statement in [
            """
            UPDATE audit_events SET seq = numbered.n FROM (SELECT id, row_number() OVER (PARTITION BY org_id ORDER BY id) AS n FROM audit_events) AS numbered
            WHERE numbered.id = audit_events.id
            """,
            "DROP INDEX audit_events_org_id_idx",
            "CREATE UNIQUE INDEX audit_events_org_seq_idx ON audit_events (org_id, seq)",
            "UPDATE organizations SET event_seq = COALESCE((SELECT MAX(seq) FROM audit_events WHERE audit_events.org_id = organizations.id), 0)",
        ] {
            try await database.sql.raw(SQLQueryString(statement)).run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("DROP INDEX audit_events_org_seq_idx").run()
        try await database.sql.raw("CREATE INDEX audit_events_org_id_idx ON audit_events (org_id, id)").run()
        try await database.schema(AuditEventModel.schema).deleteField("seq").update()
        try await database.schema(OrganizationModel.schema).deleteField("event_seq").update()
    }
}

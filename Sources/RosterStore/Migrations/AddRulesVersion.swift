import Fluent
import SQLKit

/// `organizations.rules_version` counts the changes of what a roster decision reads besides the organization's own
/// row: its roles (both ladders) and its domains. Triggers count them, so no writer can forget to (a row never
/// moves to another organization). The organization's
/// lock reads the ladder in its own statement, which sees other tables as they were before it waited; the version
/// it reads there against the one of the row it locked tells whether they changed meanwhile
/// (`MembershipStore.lockedOrganization`).
struct AddRulesVersion: AsyncMigration {
    var name: String { "2026-12-07-030-add-rules-version" }

    static let tables = ["roles", "organization_domains"]

    func prepare(on database: any Database) async throws {
        try await database.schema(OrganizationModel.schema).field("rules_version", .int64, .required, .sql(.default(0))).update()
        var statements: [String] = []
        switch SQLBackend(database) {
        case .postgres:
            statements.append("""
                CREATE FUNCTION roster_count_rules_change() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  UPDATE organizations SET rules_version = rules_version + 1
                  WHERE id = CASE TG_OP WHEN 'DELETE' THEN OLD.org_id ELSE NEW.org_id END;
                  RETURN NULL;
                END $$
                """)
            for table in Self.tables {
                statements.append("""
                    CREATE TRIGGER \(table)_count_rules_change AFTER INSERT OR UPDATE OR DELETE ON \(table)
                    FOR EACH ROW EXECUTE FUNCTION roster_count_rules_change()
                    """)
            }
        case .sqlite:
            for table in Self.tables {
                for (event, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
                    statements.append("""
                        CREATE TRIGGER \(table)_count_rules_change_\(event.lowercased()) AFTER \(event) ON \(table)
                        BEGIN UPDATE organizations SET rules_version = rules_version + 1 WHERE id = \(row).org_id; END
                        """)
                }
            }
        }
        for statement in statements { try await database.sql.raw(SQLQueryString(statement)).run() }
    }

    func revert(on database: any Database) async throws {
        for table in Self.tables {
            switch SQLBackend(database) {
            case .postgres:
                try await database.sql.raw("DROP TRIGGER \(unsafeRaw: table)_count_rules_change ON \(unsafeRaw: table)").run()
            case .sqlite:
                for event in ["insert", "update", "delete"] {
                    try await database.sql.raw("DROP TRIGGER \(unsafeRaw: table)_count_rules_change_\(unsafeRaw: event)").run()
                }
            }
        }
        if SQLBackend(database) == .postgres { try await database.sql.raw("DROP FUNCTION roster_count_rules_change()").run() }
        try await database.schema(OrganizationModel.schema).deleteField("rules_version").update()
    }
}

import Fluent
import SQLKit

/// The domain triggers of `AddRulesVersion` count only changes of what the organization's lock reads (a domain, its
/// verification), not a re-check's time or a backfill's cursor: those writes took the organization's row lock
/// through the trigger, and a backfill's, made outside the lock, could deadlock against a policy change under it.
struct NarrowRulesVersionTriggers: AsyncMigration {
    var name: String { "2026-12-07-031-narrow-rules-version-triggers" }

    func prepare(on database: any Database) async throws {
        try await recreate(on: database, updateOf: "UPDATE OF org_id, domain, verified_at")
    }

    func revert(on database: any Database) async throws {
        try await recreate(on: database, updateOf: "UPDATE")
    }

    private func recreate(on database: any Database, updateOf update: String) async throws {
        var statements: [String] = []
        switch SQLBackend(database) {
        case .postgres:
            statements = [
                "DROP TRIGGER organization_domains_count_rules_change ON organization_domains",
                """
                CREATE TRIGGER organization_domains_count_rules_change AFTER INSERT OR DELETE OR \(update) ON organization_domains
                FOR EACH ROW EXECUTE FUNCTION roster_count_rules_change()
                """,
            ]
        case .sqlite:
            statements = [
                "DROP TRIGGER organization_domains_count_rules_change_update",
                """
                CREATE TRIGGER organization_domains_count_rules_change_update AFTER \(update) ON organization_domains
                BEGIN UPDATE organizations SET rules_version = rules_version + 1 WHERE id = NEW.org_id; END
                """,
            ]
        }
        for statement in statements { try await database.sql.raw(SQLQueryString(statement)).run() }
    }
}

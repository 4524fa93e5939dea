import Fluent
import SQLKit

/// Boolean member attributes are stored as JSON booleans (issue 14, point 6): `{"phantom":"true"}` becomes
/// `{"phantom":true}`. Only a boolean attribute holds the values `true` and `false` (enum attributes may not), and
/// stored attributes are written without spaces, so the text is rewritten in place.
struct StoreBooleanAttributes: AsyncMigration {
    var name: String { "2026-12-07-021-store-boolean-attributes" }

    func prepare(on database: any Database) async throws {
        try await database.sql.raw("""
            UPDATE memberships SET attributes = REPLACE(REPLACE(attributes, ':"true"', ':true'), ':"false"', ':false') \
            WHERE attributes LIKE '%:"true"%' OR attributes LIKE '%:"false"%'
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("""
            UPDATE memberships SET attributes = REPLACE(REPLACE(attributes, ':true', ':"true"'), ':false', ':"false"') \
            WHERE attributes LIKE '%:true%' OR attributes LIKE '%:false%'
            """).run()
    }
}

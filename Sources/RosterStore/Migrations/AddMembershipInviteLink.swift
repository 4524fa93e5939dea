import Fluent
import SQLKit

/// The invite link a membership (or a join request) came through, so that the people who joined by a link can be
/// listed — a leaked link's revocation is then followed by a look at who used it. Indexed for that list.
struct AddMembershipInviteLink: AsyncMigration {
    var name: String { "2026-12-07-032-add-membership-invite-link" }

    func prepare(on database: any Database) async throws {
        try await database.schema(MembershipModel.schema).field("invite_link_id", .uuid).update()
        try await database.sql.raw("""
            CREATE INDEX memberships_invite_link_idx ON memberships (invite_link_id, id) WHERE invite_link_id IS NOT NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("DROP INDEX memberships_invite_link_idx").run()
        try await database.schema(MembershipModel.schema).deleteField("invite_link_id").update()
    }
}

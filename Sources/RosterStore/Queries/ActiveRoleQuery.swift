import Fluent
import Foundation
import RosterCore
import SQLKit

/// The one query behind permission checks: an account's active role in an organization (by id or slug).
public struct ActiveRoleQuery: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// The query for one check (a test pins its SQL).
    public func query(accountID: UUID, orgRef: String) -> SQLQueryString {
        let orgColumn = UUID(uuidString: orgRef) == nil ? "o.slug" : "o.id"
        let value: any Encodable & Sendable = UUID(uuidString: orgRef) ?? orgRef.lowercased()
        return """
        SELECT o.id AS org_id, r.key AS key, r.name AS name, r.rank AS rank, r.permissions AS permissions \
        FROM organizations o \
        JOIN memberships m ON m.scope_id = o.id AND m.status = 'active' \
        JOIN roles r ON r.org_id = o.id AND r.ladder = 'org' AND r.key = m.role_key \
        WHERE \(unsafeRaw: orgColumn) = \(bind: value) AND o.deleted_at IS NULL AND m.account_id = \(bind: accountID)
        """
    }

    /// The organization id and the active role, or nil when the account holds no active role there.
    public func run(accountID: UUID, orgRef: String) async throws -> (orgID: UUID, role: RoleDefinition)? {
        let query = self.query(accountID: accountID, orgRef: orgRef)
        guard let row = try await db.sql.raw(query).first() else { return nil }
        let permissions = try row.decode(column: "permissions", as: String.self)
        let role = RoleDefinition(
            key: try row.decode(column: "key", as: String.self), name: try row.decode(column: "name", as: String.self),
            rank: try row.decode(column: "rank", as: Int.self),
            permissions: Set(permissions.split(separator: ",").compactMap { Permission(rawValue: String($0)) }))
        return (try row.decode(column: "org_id", as: UUID.self), role)
    }
}

import Fluent
import FluentSQL
import Foundation
import SQLKit

/// Reads of a roster's invite links (issue 16, point 1).
public struct InviteLinkStore: Sendable {
    let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// One keyset page of the links of `scopeID`, newest first: those after the link `cursor`, and the last one's id
    /// when more follow. Nil when `cursor` is no link of the scope.
    public func page(scopeID: UUID, after cursor: UUID?, limit: Int) async throws -> (links: [InviteLinkModel], next: UUID?)? {
        var query = db.sql.select().column("*").from(InviteLinkModel.schema).where("scope_id", .equal, scopeID)
        if let cursor {
            guard try await InviteLinkModel.query(on: db).filter(\.$id == cursor).filter(\.$scopeID == scopeID).count() == 1 else { return nil }
            // Compared with the cursor's row as stored (a time read back and bound again need not compare equal on SQLite).
            query = query.where(SQLQueryString("(created_at, id) < (SELECT created_at, id FROM \(ident: InviteLinkModel.schema) WHERE id = \(bind: cursor))"))
        }
        let links = try await query.orderBy("created_at", .descending).orderBy("id", .descending).limit(limit + 1)
            .all(decodingFluent: InviteLinkModel.self)
        return (Array(links.prefix(limit)), links.count > limit ? links[limit - 1].id : nil)
    }
}

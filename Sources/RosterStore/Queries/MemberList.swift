import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// What a members (or join-requests) list asks for.
public struct MemberListFilter: Sendable {
    public var scopeID: UUID
    /// One status, or nil for the default view: active rows and pending invitations.
    public var status: MembershipStatus?
    public var source: MembershipSource?
    public var role: String?
    /// Only rows that came through this invite link.
    public var inviteLinkID: UUID?
    /// Lowercased; matched as a literal substring of name, email or external ID.
    public var search: String?
    public var cursor: PageCursor?
    public var limit: Int
    /// Whether a search may be narrowed by the search index: false while rows of the scope wait to be indexed
    /// (`SearchIndex.hasBacklog`), so that the search scans the scope instead.
    public var searchIndexIsCurrent = true

    /// Whether the search is long enough for the trigram index (three characters or more).
    var searchIsIndexable: Bool { (search?.count ?? 0) >= 3 }

    public init(scopeID: UUID, limit: Int) {
        self.scopeID = scopeID
        self.limit = limit
    }
}

/// The members list: one keyset-paginated SQL query ordered by (email, id).
public struct MemberList: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// The query for `filter` (exposed so a test can pin the generated SQL).
    public func query(_ filter: MemberListFilter) -> SQLSelectBuilder {
        // A search of three characters or more is driven by the trigram index. On SQLite `+scope_id` keeps the
        // planner from walking the whole scope in email order instead.
        let searchIndexed = filter.searchIndexIsCurrent && filter.searchIsIndexable
        let backend = SQLBackend(db)
        var query = db.sql.select().column("*").from(MembershipModel.schema)
        query = searchIndexed && backend == .sqlite
            ? query.where(SQLQueryString("+scope_id = \(bind: filter.scopeID)"))
            : query.where("scope_id", .equal, filter.scopeID)
        if let status = filter.status {
            query = query.where("status", .equal, status.rawValue)
            if status == .pending && filter.source != .joinRequest {
                // Pending join requests are listed only under join-requests.
                query = query.where("source", .notEqual, MembershipSource.joinRequest.rawValue)
            }
        } else {
            query = query.where { group in
                group.where("status", .equal, MembershipStatus.active.rawValue)
                    .orWhere { $0.where("status", .equal, MembershipStatus.pending.rawValue).where("source", .equal, MembershipSource.invitation.rawValue) }
            }
        }
        if let source = filter.source { query = query.where("source", .equal, source.rawValue) }
        if let role = filter.role { query = query.where("role_key", .equal, role) }
        if let link = filter.inviteLinkID { query = query.where("invite_link_id", .equal, link) }
        if let search = filter.search {
            let escaped = search.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            query = query.where(SQLBinaryExpression(
                SQLRaw("lower(coalesce(name, '') || ' ' || email || ' ' || coalesce(external_id, ''))"),
                .like,
                SQLQueryString("\(bind: "%\(escaped)%") ESCAPE '\\'")))
            if searchIndexed {
                // Narrow by the trigram index first; the LIKE above keeps the exact (literal) semantics.
                switch backend {
                case .sqlite:
                    let phrase = "\"" + search.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                    query = query.where(SQLQueryString("rowid IN (SELECT rowid FROM memberships_search WHERE memberships_search MATCH \(bind: phrase))"))
                case .postgres:
                    query = query.where(SQLQueryString("id IN (SELECT membership_id FROM memberships_search WHERE scope_id = \(bind: filter.scopeID) AND haystack LIKE \(bind: "%\(escaped)%") ESCAPE '\\')"))
                }
            }
        }
        if let cursor = filter.cursor {
            // A row-value comparison, which both SQLite and PostgreSQL answer from the (scope_id, email, id) index.
            query = query.where(SQLQueryString("(email, id) > (\(bind: cursor.key), \(bind: cursor.id))"))
        }
        return query.orderBy("email").orderBy("id").limit(filter.limit + 1)
    }

    /// One page and the cursor of the next, if any.
    public func page(_ filter: MemberListFilter) async throws -> ([MembershipRow], PageCursor?) {
        var filter = filter
        if filter.searchIsIndexable { filter.searchIndexIsCurrent = try await !SearchIndex(db).hasBacklog(scopeID: filter.scopeID) }
        let rows = try await query(filter).all(decoding: MembershipRow.self)
        let items = Array(rows.prefix(filter.limit))
        let next = rows.count > filter.limit ? items.last.map { PageCursor(key: $0.email, id: $0.id) } : nil
        return (items, next)
    }
}

extension MembershipStore {
    /// Expires due invitations of a scope, opening a write transaction only when some are due.
    public func expireInvitationsIfDue(scopeID: UUID, now: Date) async throws {
        let due = try await db.sql.select().column("org_id").from(MembershipModel.schema)
            .where("scope_id", .equal, scopeID)
            .where("status", .equal, MembershipStatus.pending.rawValue)
            .where("expires_at", .lessThanOrEqual, now)
            .limit(1).first()
        guard let orgID = try due?.decode(column: "org_id", as: UUID.self) else { return }
        try await db.writeTransaction { db in
            let store = MembershipStore(db)
            guard (try? await store.lockOrganization(orgID)) != nil else { return }
            try await store.expireInvitations(scopeID: scopeID, now: now)
        }
    }
}

extension MembershipStore {
    /// The periodic sweep: expires due invitations in every scope (a batch of scopes per call).
    public func expireAllDue(now: Date) async throws {
        let scopes = try await db.sql.select().distinct().column("scope_id").from(MembershipModel.schema)
            .where("status", .equal, MembershipStatus.pending.rawValue)
            .where("expires_at", .lessThanOrEqual, now)
            .limit(100).all()
        for row in scopes {
            try await expireInvitationsIfDue(scopeID: try row.decode(column: "scope_id", as: UUID.self), now: now)
        }
    }

    /// Expires the invitation with this token hash if its time is up (so a preview shows `expired`).
    public func expireDueInvitation(tokenHash: String, now: Date) async throws {
        guard let row = try await MembershipModel.query(on: db).filter(\.$tokenHash == tokenHash)
            .filter(\.$status == MembershipStatus.pending.rawValue).filter(\.$expiresAt <= now).first() else { return }
        try await expireInvitationsIfDue(scopeID: row.scopeID, now: now)
    }
}

/// A membership row read straight from SQL (the list's hot path avoids Fluent's reflective model decoding).
public struct MembershipRow: Codable, Sendable {
    public var id: UUID
    public var orgID: UUID
    public var spaceID: UUID?
    public var accountID: UUID?
    public var email: String
    public var name: String?
    public var roleKey: String
    public var status: String
    public var source: String
    public var externalID: String?
    public var attributes: String
    public var invitedBy: UUID?
    public var message: String?
    public var deliveryStatus: String?
    public var deliveryError: String?
    public var deliveryAt: Date?
    public var expiresAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var inviteLinkID: UUID?

    enum CodingKeys: String, CodingKey {
        case id, email, name, status, source, attributes, message
        case orgID = "org_id", spaceID = "space_id", accountID = "account_id", roleKey = "role_key"
        case externalID = "external_id", invitedBy = "invited_by", deliveryStatus = "delivery_status"
        case deliveryError = "delivery_error", deliveryAt = "delivery_at", expiresAt = "expires_at", createdAt = "created_at", updatedAt = "updated_at"
        case inviteLinkID = "invite_link_id"
    }
}

extension MembershipRow {
    /// The stored attribute values.
    public var attributeValues: [String: String] { Self.decodeAttributes(attributes) }

    /// Attribute values from their stored JSON text, a boolean as `true`/`false` (empty when it is not a JSON object
    /// of strings and booleans).
    public static func decodeAttributes(_ text: String) -> [String: String] {
        text == "{}" ? [:] : (try? JSONDecoder().decode([String: AttributeValue].self, from: Data(text.utf8)))?.mapValues(\.text) ?? [:]
    }

    /// Attribute values as stored: a JSON object with sorted keys (`{}` when empty), booleans as JSON booleans.
    public static func encodeAttributes(_ values: [String: String]) -> String {
        JSONText.attributes(values)
    }

    /// The same row as a Fluent model's fields.
    public init(_ m: MembershipModel) {
        self.init(id: m.id ?? UUID(), orgID: m.orgID, spaceID: m.spaceID, accountID: m.accountID, email: m.email, name: m.name,
                  roleKey: m.roleKey, status: m.status, source: m.source, externalID: m.externalID, attributes: m.attributes,
                  invitedBy: m.invitedBy, message: m.message, deliveryStatus: m.deliveryStatus, deliveryError: m.deliveryError, deliveryAt: m.deliveryAt,
                  expiresAt: m.expiresAt, createdAt: m.createdAt, updatedAt: m.updatedAt, inviteLinkID: m.inviteLinkID)
    }
}

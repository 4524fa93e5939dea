import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// Reads and writes of organizations, spaces, roles, sessions and the audit log: what controllers and pages need
/// besides the membership lifecycle, kept here so that no controller or page holds a query.
public struct Directory: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    // MARK: Organizations and spaces

    /// The organization named by `ref` (its id or slug), not deleted.
    /// (Read by every request on an organization: a prepared statement.)
    public func organization(ref: String) async throws -> OrganizationModel? {
        let by: SQLQueryString = if let id = UUID(uuidString: ref) { "id = \(bind: id)" } else { "slug = \(bind: ref.lowercased())" }
        return try await db.preparedSQL.raw("SELECT \(unsafeRaw: OrganizationModel.columnList) FROM organizations WHERE \(by) AND deleted_at IS NULL LIMIT 1")
            .first()?.decode(fluentModel: OrganizationModel.self)
    }

    /// The SCIM user of `orgID` whose `userName` (or, with `byExternalID`, external ID) is `value`: a SCIM filter's
    /// one match (both are unique in the organization). Read with whether the organization exists, not deleted, in
    /// one prepared statement: nil when it does not (then a filter is 404, as any request to it), `.some(nil)` when
    /// it has no such user.
    public func scimUser(orgID: UUID, _ value: String, byExternalID: Bool) async throws -> SCIMUserModel?? {
        guard let row = try await db.preparedSQL.raw("""
            SELECT organizations.id AS live_org_id, \(unsafeRaw: SCIMUserModel.columnList) FROM organizations \
            LEFT JOIN scim_users ON scim_users.org_id = organizations.id \
            AND scim_users.\(ident: byExternalID ? "external_id" : "user_name") = \(bind: value) \
            WHERE organizations.id = \(bind: orgID) AND organizations.deleted_at IS NULL LIMIT 1
            """).first() else { return nil }
        guard try row.decodeNil(column: "id") == false else { return .some(nil) }
        return .some(try row.decode(fluentModel: SCIMUserModel.self))
    }

    /// The organization with this id, deleted or not (a name for a message).
    public func organization(id: UUID) async throws -> OrganizationModel? {
        try await OrganizationModel.find(id, on: db)
    }

    /// The space with this id and its organization, neither deleted.
    public func space(id: UUID) async throws -> (SpaceModel, OrganizationModel)? {
        guard let space = try await SpaceModel.query(on: db).filter(\.$id == id).filter(\.$deletedAt == nil).first(),
              let org = try await OrganizationModel.query(on: db).filter(\.$id == space.orgID).filter(\.$deletedAt == nil).first()
        else { return nil }
        return (space, org)
    }

    /// The live space of `orgID` with this slug.
    public func space(orgID: UUID, slug: String) async throws -> SpaceModel? {
        try await SpaceModel.query(on: db).filter(\.$orgID == orgID).filter(\.$slug == slug.lowercased()).filter(\.$deletedAt == nil).first()
    }

    /// Spaces by id (deleted or not), for names.
    public func spaces(ids: Set<UUID>) async throws -> [SpaceModel] {
        ids.isEmpty ? [] : try await SpaceModel.query(on: db).filter(\.$id ~~ Array(ids)).all()
    }

    /// One page of organizations by (slug, id): all of them, or those where `accountID` is an active member, with
    /// that member's role.
    public func organizations(memberAccountID accountID: UUID?, after cursor: PageCursor?, limit: Int) async throws
        -> (items: [OrganizationModel], roles: [UUID: String], next: PageCursor?) {
        var orgs = OrganizationModel.query(on: db).filter(\.$deletedAt == nil)
        var roles: [UUID: String] = [:]
        if let accountID {
            let rows = try await MembershipModel.query(on: db)
                .filter(\.$accountID == accountID).filter(\.$status == MembershipStatus.active.rawValue).filter(\.$spaceID == nil)
                .all()
            for row in rows { roles[row.orgID] = row.roleKey }
            orgs = orgs.filter(\.$id ~~ Array(roles.keys))
        }
        if let cursor {
            orgs = orgs.group(.or) { group in
                group.filter(\.$slug > cursor.key)
                group.group(.and) { $0.filter(\.$slug == cursor.key).filter(\.$id > cursor.id) }
            }
        }
        let page = try await orgs.sort(\.$slug).sort(\.$id).limit(limit + 1).all()
        let items = Array(page.prefix(limit))
        let next = page.count > limit ? items.last.flatMap { org in org.id.map { PageCursor(key: org.slug, id: $0) } } : nil
        return (items, roles, next)
    }

    /// One page of an organization's spaces by (slug, id).
    public func spaces(orgID: UUID, after cursor: PageCursor?, limit: Int) async throws -> (items: [SpaceModel], next: PageCursor?) {
        var spaces = SpaceModel.query(on: db).filter(\.$orgID == orgID).filter(\.$deletedAt == nil)
        if let cursor {
            spaces = spaces.group(.or) { group in
                group.filter(\.$slug > cursor.key)
                group.group(.and) { $0.filter(\.$slug == cursor.key).filter(\.$id > cursor.id) }
            }
        }
        let page = try await spaces.sort(\.$slug).sort(\.$id).limit(limit + 1).all()
        let items = Array(page.prefix(limit))
        let next = page.count > limit ? items.last.flatMap { space in space.id.map { PageCursor(key: space.slug, id: $0) } } : nil
        return (items, next)
    }

    /// `base`, or `base-2`, `base-3`…: the first slug no live organization (or, with `orgID`, no live space of that
    /// organization) uses.
    public func freeSlug(_ base: String, inOrganization orgID: UUID? = nil) async throws -> String {
        var slug = base
        var n = 1
        while try await slugTaken(slug, inOrganization: orgID) {
            n += 1
            slug = "\(base.prefix(44))-\(n)"
        }
        return slug
    }

    private func slugTaken(_ slug: String, inOrganization orgID: UUID?) async throws -> Bool {
        if let orgID {
            return try await SpaceModel.query(on: db).filter(\.$orgID == orgID).filter(\.$slug == slug).filter(\.$deletedAt == nil).count() > 0
        }
        return try await OrganizationModel.query(on: db).filter(\.$slug == slug).filter(\.$deletedAt == nil).count() > 0
    }

    // MARK: Roles

    /// Creates or replaces `role` on `ladder` of `orgID`; returns the previous definition, if any.
    public func saveRole(_ role: RoleDefinition, ladder: Ladder, orgID: UUID) async throws -> RoleDefinition? {
        let existing = try await RoleModel.query(on: db).filter(\.$orgID == orgID).filter(\.$ladder == ladder.rawValue).filter(\.$key == role.key).first()
        let previous = existing?.definition
        let row = existing ?? RoleModel(orgID: orgID, ladder: ladder, role: role)
        row.name = role.name
        row.rank = role.rank
        row.permissions = role.permissions.sorted().map(\.rawValue).joined(separator: ",")
        try await row.save(on: db)
        return previous
    }

    /// Live memberships holding `key` of `ladder` in the organization (its own roster, or each of its spaces').
    public func liveHolders(ofRole key: String, ladder: Ladder, orgID: UUID) async throws -> Int {
        // By roster, which the scope indexes answer.
        let scopes = ladder == .org ? [orgID] : try await SpaceModel.query(on: db).filter(\.$orgID == orgID).all(\.$id)
        return try await MembershipModel.query(on: db).filter(\.$scopeID ~~ scopes).filter(\.$roleKey == key)
            .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).count()
    }

    /// The invite links (not turned off) and `auto` domains of `orgID` that give the role `key` of `ladder`: people
    /// would join in a role that no longer exists.
    public func grantsByLinksAndDomains(ofRole key: String, ladder: Ladder, orgID: UUID) async throws -> Int {
        let query = InviteLinkModel.query(on: db).filter(\.$orgID == orgID).filter(\.$roleKey == key).filter(\.$revokedAt == nil)
        let links = try await (ladder == .org ? query.filter(\.$spaceID == nil) : query.filter(\.$spaceID != nil)).count()
        guard ladder == .org else { return links }
        return try await links + OrganizationDomainModel.query(on: db).filter(\.$orgID == orgID).filter(\.$roleKey == key)
            .filter(\.$policy == DomainPolicy.auto.rawValue).count()
    }

    /// Deletes the role `key` of `ladder` in `orgID`.
    public func deleteRole(_ key: String, ladder: Ladder, orgID: UUID) async throws {
        try await RoleModel.query(on: db).filter(\.$orgID == orgID).filter(\.$ladder == ladder.rawValue).filter(\.$key == key).delete()
    }

    // MARK: Audit

    /// One page of an organization's audit events (all of them, or one space's), newest first (event ids are
    /// time-ordered).
    /// A page of the audit log, newest first (by the organization's event numbers), before `cursor`.
    public func auditEvents(orgID: UUID, spaceID: UUID? = nil, before cursor: PageCursor?, limit: Int) async throws
        -> (items: [AuditEventModel], next: PageCursor?) {
        var events = AuditEventModel.query(on: db).filter(\.$orgID == orgID)
        if let spaceID { events = events.filter(\.$spaceID == spaceID) }
        if let cursor {
            guard let seq = Int64(cursor.key) else {
                throw RosterError.validation([FieldIssue(field: "cursor", message: "is not a cursor this API returned")])
            }
            events = events.filter(\.$seq < seq)
        }
        let page = try await events.sort(\.$seq, .descending).limit(limit + 1).all()
        let items = Array(page.prefix(limit))
        let next = page.count > limit ? items.last.flatMap { event in event.id.map { PageCursor(key: event.seq.map(String.init) ?? "", id: $0) } } : nil
        return (items, next)
    }

    /// Up to `limit` of `orgID`'s events after number `after`, oldest first: of the given audit actions (nil: all),
    /// in one space (nil: the whole organization). Read along the (organization, number) index from `after`.
    public func events(orgID: UUID, after: Int64, actions: [String]?, spaceID: UUID? = nil, limit: Int) async throws -> [AuditEventModel] {
        var events = AuditEventModel.query(on: db).filter(\.$orgID == orgID).filter(\.$seq > after)
        if let actions { events = events.filter(\.$action ~~ actions) }
        if let spaceID { events = events.filter(\.$spaceID == spaceID) }
        return try await events.sort(\.$seq).limit(limit).all()
    }

    // MARK: Health

    /// Answers when the database does.
    public func ping() async throws {
        try await db.sql.raw("SELECT 1").run()
    }
}

extension AccountStore {
    /// Stores a new session.
    public func create(_ session: SessionModel) async throws {
        try await db.writeTransaction { try await session.create(on: $0) }
    }

    /// Ends one session.
    public func deleteSession(_ id: UUID) async throws {
        try await db.writeTransaction { try await SessionModel.query(on: $0).filter(\.$id == id).delete() }
    }

    /// Saves `account`; with `endingSessionsBut`, every other session of it ends in the same transaction (a new password).
    public func save(_ account: AccountModel, endingSessionsBut keep: UUID?) async throws {
        try await db.writeTransaction { db in
            try await account.save(on: db)
            if let keep {
                try await SessionModel.query(on: db).filter(\.$account.$id == account.requireID()).filter(\.$id != keep).delete()
            }
        }
    }
}

import Fluent
import FluentSQL
import Foundation
import RosterCore
import RosterStore
import SQLKit
import Vapor

/// SCIM Groups: the organization's spaces. Creating a group creates a space; its members are the SCIM users
/// provisioned into it (`.provision` on the space: the same consent rule as the organization); removing a member
/// ends their space row; deleting the group deletes the space. Each request is one transaction.
struct SCIMGroups: Sendable {
    let scim: SCIMContext
    var users: SCIMUsers { SCIMUsers(scim: scim) }

    /// The organization's live space `id`.
    func space(_ id: UUID, on db: any Database) async throws -> SpaceModel {
        guard let (space, org) = try await Directory(db).space(id: id), org.id == scim.orgID else {
            throw SCIMError(.notFound, detail: "No group \(id.uuidString.lowercased()) in this organization.")
        }
        return space
    }

    /// The context of acting on `space` with the provider's key.
    func context(of space: SpaceModel, on db: any Database) async throws -> ScopeContext {
        let spaceID = try space.requireID()
        let ladder = try await MembershipStore(db).ladder(orgID: scim.orgID, .space)
        var context = ScopeContext(org: scim.org.org, scope: ScopeRef(orgID: scim.orgID, spaceID: spaceID), ladder: ladder,
                                   authority: .organizationKeyOnSpace(permissions: scim.org.authority.permissions), actor: scim.org.actor,
                                   account: nil, actorName: scim.org.actorName, settings: space.settings(in: scim.org.org), spaceName: space.name)
        context.attributeDefinitions = space.attributeDefinitions
        context.organizationKey = scim.org.organizationKey
        return context
    }

    /// The SCIM users who are members of `space` (active, or invited), with that row's id, oldest user first: one
    /// join in the database whatever the space's size. A pending join request is not yet a member (adding the
    /// person approves it).
    func members(of spaceID: UUID, on db: any Database) async throws -> [(user: SCIMUserModel, rowID: UUID)] {
        let rows = try await db.sql.raw("""
            SELECT u.*, m.id AS row_id FROM \(ident: SCIMUserModel.schema) u JOIN \(ident: MembershipModel.schema) m ON m.email = u.user_name
            WHERE u.org_id = \(bind: scim.orgID) AND m.scope_id = \(bind: spaceID)
              AND (m.status = \(bind: MembershipStatus.active.rawValue)
                   OR (m.status = \(bind: MembershipStatus.pending.rawValue) AND m.source <> \(bind: MembershipSource.joinRequest.rawValue)))
            ORDER BY u.created_at, u.id
            """).all()
        return try rows.map { (try $0.decode(fluentModel: SCIMUserModel.self), try $0.decode(column: "row_id", as: UUID.self)) }
    }

    /// The Group resource of `space`; `withMembers: false` leaves out its members (a request excluding them).
    func resource(_ space: SpaceModel, withMembers: Bool = true, on db: any Database) async throws -> SCIM.Object {
        let spaceID = try space.requireID()
        let id = spaceID.uuidString.lowercased()
        var meta: SCIM.Object = ["resourceType": "Group", "location": "\(scim.base)/Groups/\(id)"]
        if let created = space.createdAt { meta["created"] = SCIM.timestamp(created) }
        // Last modified: the space itself, or a change to its roster, whichever came last.
        let rosterChanged = try await db.sql.select().column(SQLFunction("max", args: SQLColumn("updated_at")), as: "at")
            .from(MembershipModel.schema).where("scope_id", .equal, spaceID).first(decodingColumn: "at", as: Date?.self) ?? nil
        if let modified = [space.updatedAt, rosterChanged].compactMap({ $0 }).max() { meta["lastModified"] = SCIM.timestamp(modified) }
        var resource: SCIM.Object = ["schemas": [SCIM.groupSchema], "id": id, "displayName": space.name, "meta": meta]
        if let externalID = try await SCIMGroupModel.find(spaceID, on: db)?.externalID { resource["externalId"] = externalID }
        let members = withMembers ? try await members(of: spaceID, on: db) : []
        if !members.isEmpty {
            resource["members"] = members.map { member -> SCIM.Object in
                let userID = member.user.id?.uuidString.lowercased() ?? ""
                return ["value": userID, "$ref": users.location(of: userID)]
            }
        }
        return resource
    }

    /// The user ids a `members` value names (`[{"value": id}, …]`), or 400 `invalidValue`.
    static func memberIDs(_ raw: Any?) throws -> [UUID] {
        if raw == nil || raw is NSNull { return [] }
        guard let list = raw as? [SCIM.Object], list.count <= SCIM.maximumOperations else {
            throw SCIMError(.badRequest, scimType: "invalidValue", detail: "members must be a list of {\"value\": user id} (at most \(SCIM.maximumOperations)).")
        }
        return try list.map { member in
            guard let text = SCIM.value(member, "value") as? String, let id = UUID(uuidString: text) else {
                throw SCIMError(.badRequest, scimType: "invalidValue", detail: "Each member's value is the id of a User.")
            }
            return id
        }
    }

    /// A full Group resource (POST, PUT): its name, external ID and member ids.
    static func fields(_ body: SCIM.Object) throws -> (name: String, externalID: String?, memberIDs: [UUID]) {
        guard let name = try SCIM.string(SCIM.value(body, "displayName"), "displayName") else {
            throw SCIMError(.badRequest, scimType: "invalidValue", detail: "displayName (the space's name) is required.")
        }
        return (name, try SCIM.string(SCIM.value(body, "externalId"), "externalId"), try memberIDs(SCIM.value(body, "members")))
    }

    func create(_ body: SCIM.Object) async throws -> SpaceModel {
        let (name, externalID, memberIDs) = try Self.fields(body)
        let scim = self.scim
        return try await scim.db.writeTransaction { db in
            try await MembershipStore(db).lockOrganization(scim.orgID)   // before any row referencing it (SCIMUsers.create)
            let space = try await SpaceUseCases(context: scim.org, db: db, requestID: scim.requestID)
                .create(SpaceRequest(name: name, slug: nil, kind: nil, settings: nil, attributes: nil))
            try await setExternalID(externalID, of: space, on: db)
            try await setMembers(memberIDs, of: space, replacing: false, on: db)
            return space
        }
    }

    func replace(_ id: UUID, with body: SCIM.Object) async throws -> SpaceModel {
        let (name, externalID, memberIDs) = try Self.fields(body)
        let scim = self.scim
        return try await scim.db.writeTransaction { db in
            try await MembershipStore(db).lockOrganization(scim.orgID)   // before any row referencing it (SCIMUsers.create)
            let space = try await space(id, on: db)
            try await rename(space, to: name, on: db)
            try await setExternalID(externalID, of: space, on: db)
            try await setMembers(memberIDs, of: space, replacing: true, on: db)
            return space
        }
    }

    func patch(_ id: UUID, _ body: SCIM.Object) async throws -> SpaceModel {
        let operations = try SCIM.patchOperations(body)
        let scim = self.scim
        return try await scim.db.writeTransaction { db in
            try await MembershipStore(db).lockOrganization(scim.orgID)   // before any row referencing it (SCIMUsers.create)
            let space = try await space(id, on: db)
            for operation in operations {
                if let path = operation.path {
                    try await apply(operation.op, path: path, value: operation.value, to: space, on: db)
                } else {
                    guard let object = operation.value as? SCIM.Object else {
                        throw SCIMError(.badRequest, scimType: "invalidValue", detail: "An operation without a path takes an object of attributes.")
                    }
                    for (key, value) in object { try await apply(operation.op, path: key, value: value, to: space, on: db) }
                }
            }
            return space
        }
    }

    private func apply(_ op: SCIM.PatchOperation.Op, path: String, value: Any?, to space: SpaceModel, on db: any Database) async throws {
        let lowered = path.lowercased()
        switch lowered {
        case "displayname":
            guard op != .remove, let name = try SCIM.string(value, "displayName") else {
                throw SCIMError(.badRequest, scimType: "mutability", detail: "displayName is required and cannot be removed.")
            }
            try await rename(space, to: name, on: db)
        case "externalid":
            try await setExternalID(op == .remove ? nil : try SCIM.string(value, "externalId"), of: space, on: db)
        case "members":
            switch op {
            case .add: try await setMembers(try Self.memberIDs(value), of: space, replacing: false, on: db)
            case .replace: try await setMembers(try Self.memberIDs(value), of: space, replacing: true, on: db)
            case .remove:
                // Without a value every member goes; with one (Entra's form), the members it lists.
                let listed = try Self.memberIDs(value)
                try await removeMembers(listed.isEmpty ? nil : Set(listed), of: space, on: db)
            }
        default:
            // members[value eq "id"]: the one member (a sub-attribute after it is no member to remove).
            guard lowered.hasPrefix("members["), lowered.hasSuffix("]"), op == .remove,
                  let filter = try SCIM.filter(String(path.dropFirst("members[".count).dropLast()), allowed: ["value"]),
                  let id = UUID(uuidString: filter.value) else {
                if lowered.hasPrefix("members") {
                    throw SCIMError(.badRequest, scimType: "invalidPath", detail: "Roster takes members, or members[value eq \"id\"] to remove one.")
                }
                return   // attributes Roster does not keep are ignored
            }
            try await removeMembers([id], of: space, on: db)
        }
    }

    private func rename(_ space: SpaceModel, to name: String, on db: any Database) async throws {
        guard name != space.name else { return }
        try await SpaceUseCases(context: try await context(of: space, on: db), db: db, requestID: scim.requestID)
            .update(space, with: SpaceRequest(name: name, slug: nil, kind: nil, settings: nil, attributes: nil))
    }

    private func setExternalID(_ externalID: String?, of space: SpaceModel, on db: any Database) async throws {
        let spaceID = try space.requireID()
        if let row = try await SCIMGroupModel.find(spaceID, on: db) {
            row.externalID = externalID
            try await row.save(on: db)
        } else if externalID != nil {
            let row = SCIMGroupModel()
            row.id = spaceID
            row.orgID = scim.orgID
            row.externalID = externalID
            try await row.create(on: db)
        }
    }

    /// Provisions the users `ids` into the space (those already in it stay); `replacing`: the others' rows end.
    private func setMembers(_ ids: [UUID], of space: SpaceModel, replacing: Bool, on db: any Database) async throws {
        let spaceID = try space.requireID()
        let current = try await members(of: spaceID, on: db)
        let present = Set(current.compactMap(\.user.id))
        let context = try await context(of: space, on: db)
        if replacing { try await removeMembers(present.subtracting(ids), of: space, on: db) }
        for id in ids where !present.contains(id) {
            guard let user = try await users.existing(id, on: db) else {
                throw SCIMError(.badRequest, scimType: "invalidValue", detail: "No user \(id.uuidString.lowercased()) in this organization to make a member.")
            }
            var orgRow: MembershipStatus?
            if let rowID = user.membershipID { orgRow = try await MembershipModel.find(rowID, on: db).flatMap { MembershipStatus(rawValue: $0.status) } }
            guard Lifecycle.mayJoinGroup(userActive: user.active, organizationRow: orgRow) else {
                throw SCIMError(.badRequest, scimType: "invalidValue",
                                detail: "User \(id.uuidString.lowercased()) is not a member of the organization (inactive, or removed by an administrator); a group takes members of the organization only.")
            }
            let state = SCIMUserState(user)
            let input = InviteInput(email: user.userName, name: try MemberFields.name(state.memberName))
            _ = try await scim.memberships(context, on: db).run(.provision(input))
        }
    }

    /// Ends the space rows of the users `ids` (nil: of every SCIM user in it).
    private func removeMembers(_ ids: Set<UUID>?, of space: SpaceModel, on db: any Database) async throws {
        let context = try await context(of: space, on: db)
        for member in try await members(of: try space.requireID(), on: db) where ids.map({ $0.contains(member.user.id ?? UUID()) }) ?? true {
            try await scim.end(member.rowID, scope: context, on: db)
        }
    }

    func delete(_ id: UUID) async throws {
        let scim = self.scim
        try await scim.db.writeTransaction { db in
            try await MembershipStore(db).lockOrganization(scim.orgID)
            let space = try await space(id, on: db)
            try await scim.memberships(try await context(of: space, on: db), on: db).deleteSpace()
            try await SCIMGroupModel.query(on: db).filter(\.$id == id).delete()
        }
    }

    /// One page of the organization's spaces, filtered by `displayName eq` or `externalId eq`.
    func list(filter: (attribute: String, value: String)?, startIndex: Int, count: Int) async throws -> (spaces: [SpaceModel], total: Int) {
        var query = SpaceModel.query(on: scim.db).filter(\.$orgID == scim.orgID).filter(\.$deletedAt == nil)
        switch filter?.attribute {
        case "displayName"?:
            // displayName is not case-exact (SCIMDiscovery): providers looking a group up by name find it however cased.
            query = query.filter(.sql(SQLFunction("lower", args: SQLColumn("name", table: SpaceModel.schema)), SQLBinaryOperator.equal,
                                      SQLBind(filter!.value.lowercased())))
        case "externalId"?:
            let ids = try await SCIMGroupModel.query(on: scim.db).filter(\.$orgID == scim.orgID).filter(\.$externalID == filter!.value).all().compactMap(\.id)
            query = query.filter(\.$id ~~ ids)
        default: break
        }
        let total = try await query.count()
        guard count > 0 else { return ([], total) }
        return (try await query.sort(\.$createdAt).sort(\.$id).range((startIndex - 1)..<(startIndex - 1 + count)).all(), total)
    }
}

import Fluent
import Foundation
import RosterCore
import RosterStore
import SQLKit
import Vapor

/// The SCIM door's view of one organization: the identity provider's key as the actor (holding
/// `Permission.provisioning`), and where resources live.
struct SCIMContext: Sendable {
    let org: ScopeContext
    let db: any Database
    let limits: RosterLimits
    let requestID: String?
    let unusablePasswordHash: String
    /// `BASE_URL/scim/v2/orgs/{org id}`.
    let base: String

    var orgID: UUID { org.scope.orgID }

    /// The SCIM context of `req`: an organization API key of the organization named in the path, holding `scim`
    /// (401 without a key, 403 without the permission, 404 for another organization's key). Reads need only the
    /// organization; `forWriting` also reads its ladder for the lifecycle. `decidingUnderLock` reads nothing before
    /// the transaction when the path names the key's organization by id: for writes that take the organization's lock
    /// and decide on what `ScopeContext.locked` reads there (a deleted organization is 404 then). `readingItself`
    /// does the same for a read whose own statement reads whether the organization is there (a filter's).
    init(_ req: Request, forWriting: Bool = false, decidingUnderLock: Bool = false, readingItself: Bool = false) async throws {
        guard let principal = req.principal else {
            throw SCIMError(.unauthorized, detail: "Send an organization API key holding the scim permission as Authorization: Bearer rk_….")
        }
        guard let key = principal.organizationKey, key.permissions.contains(.scim) else {
            throw SCIMError(.forbidden, detail: "SCIM takes an organization API key holding the scim permission.")
        }
        var org: ScopeContext
        if decidingUnderLock || readingItself, let ref = req.parameters.get("org"), UUID(uuidString: ref) == key.orgID, key.spaceIDs == nil {
            let (actor, _, actorName) = try req.actorIdentity()
            org = .organizationKey(key, actor: actor, actorName: actorName)
        } else if forWriting || decidingUnderLock {
            org = try await req.orgScope()
            // Another organization's key answered 404 already; one limited to some spaces has nothing here.
            guard org.authority.permissions.contains(.scim) else { throw RosterError.notFound }
        } else {
            // A read decides nothing: the organization is enough (no ladder, and an authority that grants nothing).
            let model = try await req.organization()
            guard key.orgID == model.id, key.spaceIDs == nil else { throw RosterError.notFound }
            let (actor, _, actorName) = try req.actorIdentity()
            org = ScopeContext(org: model, scope: ScopeRef(orgID: key.orgID), ladder: RoleLadder(.org, roles: []), authority: .none,
                               actor: actor, account: nil, actorName: actorName, settings: model.settings, spaceName: nil)
            org.organizationKey = key
        }
        org.authority.permissions.formUnion(Permission.provisioning)
        self.org = org
        db = req.db
        limits = req.application.roster.limits
        requestID = req.id
        unusablePasswordHash = req.application.roster.unusablePasswordHash
        base = "\(req.application.roster.configuration.baseURL)/scim/v2/orgs/\(org.scope.orgID.uuidString.lowercased())"
    }

    /// The membership use cases on `scope` (the organization, or one of its spaces) inside the transaction `db`.
    func memberships(_ scope: ScopeContext? = nil, on db: any Database) -> MembershipUseCases {
        var useCases = MembershipUseCases(context: scope ?? org, db: db, limits: limits, requestID: requestID)
        useCases.newAccountPasswordHash = unusablePasswordHash
        return useCases
    }

    /// Ends the live row `id` of `scope` (removed, or the invitation revoked); a row already ended stays as it is.
    func end(_ id: UUID, scope: ScopeContext? = nil, on db: any Database) async throws {
        guard let row = try await MembershipModel.find(id, on: db), MembershipStatus(rawValue: row.status)?.isLive == true else { return }
        try await memberships(scope, on: db).remove(id: id)
    }
}

/// A SCIM User's attributes, as the provider set them.
struct SCIMUserState: Equatable {
    var userName: String
    var externalID: String?
    var givenName: String?
    var familyName: String?
    var displayName: String?
    var active: Bool?

    init(_ model: SCIMUserModel) {
        (userName, externalID, givenName, familyName, displayName, active) =
            (model.userName, model.externalID, model.givenName, model.familyName, model.displayName, model.active)
    }

    /// From a full resource (POST, PUT): absent attributes are unset.
    init(resource: SCIM.Object) throws {
        guard let raw = try SCIM.string(SCIM.value(resource, "userName"), "userName") else {
            throw SCIMError(.badRequest, scimType: "invalidValue", detail: "userName (the member's email address) is required.")
        }
        userName = raw
        try set("externalId", SCIM.value(resource, "externalId"))
        try set("name", SCIM.value(resource, "name"))
        try set("displayName", SCIM.value(resource, "displayName"))
        try set("active", SCIM.value(resource, "active"))
        userName = try Self.email(userName)
    }

    static func email(_ raw: String) throws -> String {
        guard let email = EmailAddress(raw) else {
            throw SCIMError(.badRequest, scimType: "invalidValue", detail: "userName must be the member's email address, like name@example.com.")
        }
        return email.value
    }

    /// Sets one attribute (a PATCH path, or a key of a resource); unknown attributes are ignored, as providers send
    /// more than Roster keeps.
    mutating func set(_ path: String, _ value: Any?, merge: Bool = false) throws {
        switch path.lowercased() {
        case "username":
            guard let text = try SCIM.string(value, "userName") else {
                throw SCIMError(.badRequest, scimType: "mutability", detail: "userName is required and cannot be removed.")
            }
            userName = try Self.email(text)
        case "externalid":
            // The membership's rule for external IDs (trimmed, empty is none, at most 200 characters), as imports have it.
            do { externalID = try MemberFields.externalID(try SCIM.string(value, "externalId")) } catch let error as RosterError {
                throw SCIMError(.badRequest, scimType: "invalidValue", detail: "externalId \(error.issues.first?.message ?? "is not valid").")
            }
        case "displayname": displayName = try SCIM.string(value, "displayName")
        case "name.givenname": givenName = try SCIM.string(value, "name.givenName")
        case "name.familyname": familyName = try SCIM.string(value, "name.familyName")
        case "name":
            let object = value as? SCIM.Object
            if value != nil, !(value is NSNull), object == nil {
                throw SCIMError(.badRequest, scimType: "invalidValue", detail: "name must be an object with givenName and familyName.")
            }
            let given = try object.map { try SCIM.string(SCIM.value($0, "givenName"), "name.givenName") } ?? nil
            let family = try object.map { try SCIM.string(SCIM.value($0, "familyName"), "name.familyName") } ?? nil
            if merge {
                givenName = given ?? givenName
                familyName = family ?? familyName
            } else {
                (givenName, familyName) = (given, family)
            }
        case "active":
            if value == nil || value is NSNull { active = nil; return }
            guard let bool = SCIM.bool(value) else { throw SCIMError(.badRequest, scimType: "invalidValue", detail: "active must be true or false.") }
            active = bool
        default:
            return
        }
    }

    /// Applies PATCH operations (RFC 7644 §3.5.2) in order. `add` and `replace` of `name` keep the sub-attribute
    /// they do not name (§3.5.2.3).
    mutating func apply(_ operations: [SCIM.PatchOperation]) throws {
        for operation in operations {
            switch (operation.op, operation.path) {
            case (.remove, let path?):
                try set(path, nil)
            case (_, let path?):
                try set(path, operation.value, merge: true)
            case (_, nil):
                guard let object = operation.value as? SCIM.Object else {
                    throw SCIMError(.badRequest, scimType: "invalidValue", detail: "An operation without a path takes an object of attributes.")
                }
                for (key, value) in object { try set(key, value, merge: true) }
            }
        }
    }

    /// The member's name in the roster.
    var memberName: String? {
        if let displayName, !displayName.trimmingCharacters(in: .whitespaces).isEmpty { return displayName }
        let full = [givenName, familyName].compactMap { $0 }.joined(separator: " ").trimmingCharacters(in: .whitespaces)
        return full.isEmpty ? nil : full
    }

    func write(to model: SCIMUserModel) {
        model.userName = userName
        model.externalID = externalID
        model.givenName = givenName
        model.familyName = familyName
        model.displayName = displayName
        model.active = active
    }
}

/// SCIM Users (RFC 7644 §3): each a person the provider provisions into the organization. Creating or activating
/// one runs `.provision` (an active member when the organization verified the email's domain, an invitation
/// otherwise); `active: false` and deleting end the membership; a changed userName ends the old address's membership
/// and provisions the new one. Each request is one transaction.
struct SCIMUsers: Sendable {
    let scim: SCIMContext

    func resource(_ model: SCIMUserModel) -> SCIM.Object {
        let id = model.id?.uuidString.lowercased() ?? ""
        var resource: SCIM.Object = [
            "schemas": [SCIM.userSchema], "id": id, "userName": model.userName,
            "meta": ["resourceType": "User", "created": SCIM.timestamp(model.createdAt), "lastModified": SCIM.timestamp(model.updatedAt),
                     "location": location(of: id)],
        ]
        if let externalID = model.externalID { resource["externalId"] = externalID }
        if let displayName = model.displayName { resource["displayName"] = displayName }
        if let active = model.active { resource["active"] = active }
        var name: SCIM.Object = [:]
        if let given = model.givenName { name["givenName"] = given }
        if let family = model.familyName { name["familyName"] = family }
        if !name.isEmpty { resource["name"] = name }
        return resource
    }

    func location(of id: String) -> String { "\(scim.base)/Users/\(id)" }

    func find(_ id: UUID, on db: any Database) async throws -> SCIMUserModel {
        guard let model = try await existing(id, on: db) else {
            throw SCIMError(.notFound, detail: "No user \(id.uuidString.lowercased()) in this organization.")
        }
        return model
    }

    /// The organization's user `id`, if there is one.
    func existing(_ id: UUID, on db: any Database) async throws -> SCIMUserModel? {
        try await SCIMUserModel.query(on: db).filter(\.$id == id).filter(\.$orgID == scim.orgID).first()
    }

    func create(_ body: SCIM.Object) async throws -> SCIMUserModel {
        let state = try SCIMUserState(resource: body)
        let scim = self.scim
        let model = SCIMUserModel()
        model.id = UUID()
        model.orgID = scim.orgID
        state.write(to: model)
        model.createdAt = Date()
        model.updatedAt = model.createdAt
        // Provisioning takes the organization's lock before the row referencing it is written (the other order lets
        // two creates deadlock on PostgreSQL: each holds a share lock the other's lock waits for); the user is
        // written with the plan's rows, in one statement on PostgreSQL, in the provisioning's own transaction (which
        // creates arriving together may share, `ProvisioningQueue`).
        if state.active != false {
            _ = try await provision(state, on: scim.db) { membershipID in
                model.membershipID = membershipID
                return [model.insertStatement]
            }
            model.$id.exists = true
            return model
        }
        // A SCIM user is nothing an access cache reads.
        return try await scim.db.writeTransaction(notifying: .whenAccessChanges) { db in
            try await MembershipStore(db).lockOrganization(scim.orgID)
            try await model.create(on: db)
            return model
        }
    }

    /// Provisions the membership of `state`'s address; its row id.
    /// `alongside` as in `MembershipUseCases.run`.
    private func provision(_ state: SCIMUserState, on db: any Database,
                           alongside: @escaping @Sendable (UUID?) -> [any SQLExpression] = { _ in [] }) async throws -> UUID? {
        let input = InviteInput(email: state.userName, name: try MemberFields.name(state.memberName), externalID: state.externalID)
        return try await scim.memberships(on: db).run(.provision(input), alongside: alongside)?.id
    }

    func replace(_ id: UUID, with body: SCIM.Object) async throws -> SCIMUserModel {
        let state = try SCIMUserState(resource: body)
        return try await change(id) { $0 = state }
    }

    func patch(_ id: UUID, _ body: SCIM.Object) async throws -> SCIMUserModel {
        let operations = try SCIM.patchOperations(body)
        return try await change(id) { try $0.apply(operations) }
    }

    private func change(_ id: UUID, _ edit: @escaping @Sendable (inout SCIMUserState) throws -> Void) async throws -> SCIMUserModel {
        try await scim.db.writeTransaction { db in
            try await MembershipStore(db).lockOrganization(scim.orgID)
            let model = try await find(id, on: db)
            let before = SCIMUserState(model)
            var after = before
            try edit(&after)
            guard after != before else { return model }
            after.write(to: model)
            model.updatedAt = Date()
            try await model.save(on: db)
            try await reconcile(model, from: before, to: after, on: db)
            return model
        }
    }

    func delete(_ id: UUID) async throws {
        try await scim.db.writeTransaction { db in
            try await MembershipStore(db).lockOrganization(scim.orgID)
            let model = try await find(id, on: db)
            if let membershipID = model.membershipID { try await scim.end(membershipID, on: db) }
            try await model.delete(on: db)
        }
    }

    /// Brings the membership in line with the provider's record: ends it when the user turns inactive or changes
    /// address, provisions it when the user is (again) active without one, and carries a new external ID or name
    /// over.
    private func reconcile(_ model: SCIMUserModel, from before: SCIMUserState, to after: SCIMUserState, on db: any Database) async throws {
        let active = after.active != false
        let moved = before.userName != after.userName
        if let membershipID = model.membershipID, !active || moved {
            try await scim.end(membershipID, on: db)
            model.membershipID = nil
        }
        if active, model.membershipID == nil {
            model.membershipID = try await provision(after, on: db)
        } else if let membershipID = model.membershipID, before.externalID != after.externalID || before.memberName != after.memberName,
                  let row = try await MembershipModel.find(membershipID, on: db), MembershipStatus(rawValue: row.status)?.isLive == true {
            var update = MemberUpdate()
            if before.externalID != after.externalID { update.externalID = .some(after.externalID) }
            if before.memberName != after.memberName { update.name = .some(try MemberFields.name(after.memberName)) }
            _ = try await scim.memberships(on: db).run(.update(membershipID, update))
        }
        try await model.save(on: db)
    }

    /// One page of the organization's users, filtered by `userName eq` or `externalId eq`.
    func list(filter: (attribute: String, value: String)?, startIndex: Int, count: Int) async throws -> (users: [SCIMUserModel], total: Int) {
        if let filter {
            // Both attributes are unique in the organization: the one match (or none) is the whole list.
            let byExternalID = filter.attribute == "externalId"
            let value = byExternalID ? filter.value : (EmailAddress(filter.value)?.value ?? filter.value)
            guard let match = try await Directory(scim.db).scimUser(orgID: scim.orgID, value, byExternalID: byExternalID) else {
                throw RosterError.notFound
            }
            let found = match.map { [$0] } ?? []
            return (Array(found.dropFirst(startIndex - 1).prefix(count)), found.count)
        }
        let query = SCIMUserModel.query(on: scim.db).filter(\.$orgID == scim.orgID)
        let total = try await query.count()
        guard count > 0 else { return ([], total) }
        let users = try await query.sort(\.$createdAt).sort(\.$id).range((startIndex - 1)..<(startIndex - 1 + count)).all()
        return (users, total)
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// `POST /v1/orgs/{org}/api-keys`.
struct CreateOrganizationKeyRequest: RequestBody {
    static let fields: Set<String> = ["name", "permissions", "spaces"]
    var name: String
    var permissions: [String]
    var spaces: [String]?
}

/// An organization API key as the API shows it; `key` only in the answer that creates it.
struct OrganizationKeyResponse: Content {
    var id: UUID
    var name: String
    var prefix: String
    var permissions: [String]
    var spaces: [UUID]?
    var key: String?
    var createdAt: Date?
    var lastUsedAt: Date?
    var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, name, prefix, permissions, spaces, key
        case createdAt = "created_at", lastUsedAt = "last_used_at", revokedAt = "revoked_at"
    }

    init(_ model: APIKeyModel, key: String? = nil) {
        id = model.id ?? UUID()
        name = model.name
        prefix = model.keyPrefix
        permissions = model.permissionSet.sorted().map(\.rawValue)
        spaces = model.spaceIDSet.map { $0.sorted { $0.uuidString < $1.uuidString } }
        self.key = key
        createdAt = model.createdAt
        lastUsedAt = model.lastUsedAt
        revokedAt = model.revokedAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(prefix, forKey: .prefix)
        try c.encode(permissions, forKey: .permissions)
        try c.encode(spaces, forKey: .spaces)
        try c.encodeIfPresent(key, forKey: .key)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(lastUsedAt, forKey: .lastUsedAt)
        try c.encode(revokedAt, forKey: .revokedAt)
    }
}

/// `/v1/orgs/{org}/api-keys`: owners create keys for their organization's integrations — a subset of the permission
/// catalogue, optionally limited to some spaces. A key acts with exactly those permissions in that organization and
/// nowhere else, and never as a person (accepting, declining, requesting, leaving).
struct OrganizationKeysController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let keys = routes.grouped("v1", "orgs", ":org", "api-keys").grouped(BearerAuthenticator())
        keys.post(use: create)
        keys.get(use: list)
        keys.delete(":key", use: revoke)
    }

    struct KeyList: Content { var items: [OrganizationKeyResponse] }

    @Sendable func create(req: Request) async throws -> Response {
        let keys = try await OrganizationKeys(req: req)
        let body = try req.decodeBody(CreateOrganizationKeyRequest.self)
        let (model, key) = try await keys.create(name: body.name, permissions: body.permissions, spaces: body.spaces)
        return try jsonResponse(OrganizationKeyResponse(model, key: key), status: .created)
    }

    @Sendable func list(req: Request) async throws -> KeyList {
        let keys = try await OrganizationKeys(req: req)
        return KeyList(items: try await keys.all().map { OrganizationKeyResponse($0) })
    }

    @Sendable func revoke(req: Request) async throws -> HTTPStatus {
        let keys = try await OrganizationKeys(req: req)
        try await keys.revoke(try req.uuidParameter("key"))
        return .noContent
    }
}

/// An organization's API keys, managed by its signed-in owners (or a platform administrator) — the API and the web
/// page call these. Keys manage no keys.
struct OrganizationKeys: Sendable {
    /// Live keys one organization may hold.
    static let maximumKeys = 100

    let context: ScopeContext
    let db: any Database
    let requestID: String?

    init(req: Request) async throws {
        let context = try await req.orgScope()
        guard context.authority.canSee else { throw RosterError.notFound }
        guard context.account != nil, context.authority.isOwner else {
            throw RosterError(.forbidden, "Only the organization's owners manage its API keys.")
        }
        self.context = context
        db = req.db
        requestID = req.id
    }

    /// The organization's keys, oldest first, revoked ones included.
    func all() async throws -> [APIKeyModel] {
        try await APIKeyModel.query(on: db).filter(\.$orgID == context.scope.orgID).sort(\.$createdAt).all()
    }

    /// A new key with `permissions` (catalogue names), optionally limited to `spaces` (ids of this organization's
    /// spaces); the key itself is returned once.
    func create(name rawName: String, permissions rawPermissions: [String], spaces rawSpaces: [String]?) async throws -> (APIKeyModel, String) {
        var issues: [FieldIssue] = []
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty || name.count > 100 { issues.append(FieldIssue(field: "name", message: "must be 1 to 100 characters")) }
        var permissions: Set<Permission> = []
        for raw in rawPermissions {
            if let permission = Permission(rawValue: raw) { permissions.insert(permission) } else {
                issues.append(FieldIssue(field: "permissions", message: "'\(raw.prefix(100))' is not a permission; known: \(Permission.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if rawPermissions.isEmpty { issues.append(FieldIssue(field: "permissions", message: "must name at least one permission")) }
        // Every other permission needs seeing the roster first: a key always holds `scope.read`.
        permissions.insert(.scopeRead)
        var spaces: Set<UUID>?
        if let rawSpaces {
            var found: Set<UUID> = []
            for text in rawSpaces.prefix(1000) {
                guard let id = UUID(uuidString: text), let (_, org) = try await Directory(db).space(id: id), org.id == context.scope.orgID else {
                    issues.append(FieldIssue(field: "spaces", message: "'\(text.prefix(100))' is not a space of this organization"))
                    continue
                }
                found.insert(id)
            }
            if rawSpaces.isEmpty { issues.append(FieldIssue(field: "spaces", message: "must name at least one space (or be left out for the whole organization)")) }
            spaces = found
        }
        if !issues.isEmpty { throw RosterError.validation(Array(issues.prefix(20))) }

        let key = Secret.apiKeyPrefix + Secret.generate()
        let model = APIKeyModel(name: name, keyHash: Secret.hash(key), keyPrefix: String(key.prefix(10)))
        model.orgID = context.scope.orgID
        model.permissions = permissions.sorted().map(\.rawValue).joined(separator: ",")
        model.spaceIDs = spaces.map { $0.map(\.uuidString).sorted().joined(separator: ",") }
        model.createdBy = context.account?.id
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction(changingAPIKeys: true) { db in
            _ = try await context.locked(on: db)
            let count = try await APIKeyModel.query(on: db).filter(\.$orgID == context.scope.orgID).filter(\.$revokedAt == nil).count()
            guard count < Self.maximumKeys else {
                throw RosterError(.conflict, "An organization holds at most \(Self.maximumKeys) live API keys; revoke one first.")
            }
            try await model.create(on: db)
            try await AuditLog(db).record(action: "api_key.created", actor: context.actor, orgID: context.scope.orgID, before: nil,
                                          after: ["name": name, "prefix": model.keyPrefix, "permissions": model.permissions ?? "",
                                                  "spaces": model.spaceIDs ?? "*"], requestID: requestID, at: Date())
        }
        return (model, key)
    }

    /// Revokes the key at once (404 for a key of another organization; revoking twice changes nothing).
    func revoke(_ id: UUID) async throws {
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction(changingAPIKeys: true) { db in
            guard let key = try await APIKeyModel.query(on: db).filter(\.$id == id).filter(\.$orgID == context.scope.orgID).first() else {
                throw RosterError.notFound
            }
            guard key.revokedAt == nil else { return }
            key.revokedAt = Date()
            try await key.save(on: db)
            try await AuditLog(db).record(action: "api_key.revoked", actor: context.actor, orgID: context.scope.orgID, before: nil,
                                          after: ["name": key.name, "prefix": key.keyPrefix], requestID: requestID, at: Date())
        }
    }
}

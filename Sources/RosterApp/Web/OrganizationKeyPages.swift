import Vapor
import Fluent
import RosterCore
import RosterStore

/// `/orgs/{org}/api-keys`: the organization's API keys on the web (owners): create one (the key is shown on the page
/// that answers, once), see each key's permissions, spaces and last use, revoke. The same use cases as the API
/// (`OrganizationKeys`).
struct OrganizationKeyPages: Sendable {
    func register(on org: any RoutesBuilder) {
        org.get("api-keys", use: page)
        org.post("api-keys", use: create)
        org.post("api-keys", ":key", "revoke", use: revoke)
    }

    struct Key: Encodable {
        var id: String; var name: String; var prefix: String; var permissions: String; var spaces: String; var lastUsed: String
        var revoked: String?
    }
    struct Option: Encodable { var value: String; var label: String }
    struct Page: Encodable {
        var frame: WebPages.Frame; var org: String; var slug: String; var keys: [Key]; var permissions: [Option]; var spaces: [Option]
        var newKey: String?; var newKeyName: String?
    }

    func render(_ req: Request, _ keys: OrganizationKeys, created: (name: String, key: String)? = nil) async throws -> Response {
        let spaces = try await SpaceModel.query(on: req.db).filter(\.$orgID == keys.context.scope.orgID).filter(\.$deletedAt == nil).sort(\.$name).all()
        let names = Dictionary(uniqueKeysWithValues: spaces.compactMap { space in space.id.map { ($0, space.name) } })
        let rows = try await keys.all().map { key in
            Key(id: key.id?.uuidString.lowercased() ?? "", name: key.name, prefix: key.keyPrefix,
                permissions: key.permissionSet.sorted().map(\.rawValue).joined(separator: ", "),
                spaces: key.spaceIDSet.map { $0.map { names[$0] ?? "a deleted space" }.sorted().joined(separator: ", ") } ?? "the whole organization",
                lastUsed: key.lastUsedAt.map { EmailTemplates.utcTimestamp($0) } ?? "never",
                revoked: key.revokedAt.map { EmailTemplates.utcTimestamp($0) })
        }
        let org = keys.context.org
        let view = try await req.view.render("web/api-keys", Page(
            frame: WebPages.frame(req, "API keys of \(org.name)"), org: org.name, slug: org.slug, keys: rows,
            permissions: Permission.allCases.map { Option(value: $0.rawValue, label: $0.rawValue) },
            spaces: spaces.compactMap { space in space.id.map { Option(value: $0.uuidString.lowercased(), label: space.name) } },
            newKey: created?.key, newKeyName: created?.name))
        return try await view.encodeResponse(for: req)
    }

    @Sendable func page(req: Request) async throws -> Response {
        try await render(req, try await OrganizationKeys(req: req))
    }

    struct Form: Content { var name: String?; var permissions: [String]?; var spaces: [String]? }

    /// Creates a key and answers with the page showing it (not a redirect: the key is not kept).
    @Sendable func create(req: Request) async throws -> Response {
        let keys = try await OrganizationKeys(req: req)
        return try await WebPages.answer(req, back: "/orgs/\(keys.context.org.slug)/api-keys") {
            let form = try req.content.decode(Form.self)
            let spaces = form.spaces.flatMap { $0.isEmpty ? nil : $0 }
            let (model, key) = try await keys.create(name: form.name ?? "", permissions: form.permissions ?? [], spaces: spaces)
            return try await render(req, keys, created: (model.name, key))
        }
    }

    @Sendable func revoke(req: Request) async throws -> Response {
        let keys = try await OrganizationKeys(req: req)
        return try await WebPages.perform(req, back: "/orgs/\(keys.context.org.slug)/api-keys") {
            try await keys.revoke(try req.uuidParameter("key"))
            return (nil, "Revoked: the key stopped working at once.")
        }
    }
}

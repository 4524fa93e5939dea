import Foundation
import RosterCore
import RosterStore
import Vapor

/// `/scim/v2/orgs/{org}/…`: a SCIM 2.0 server (RFC 7643, RFC 7644) per organization for its identity provider
/// (Okta, Entra ID, …), authenticated by an organization API key holding `scim`. docs/scim.md.
struct SCIMController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let scim = routes.grouped("scim", "v2", "orgs", ":org").grouped(SCIMErrorMiddleware(), BearerAuthenticator())
        let body = HTTPBodyStreamStrategy.collect(maxSize: "1mb")
        scim.get("ServiceProviderConfig", use: serviceProviderConfig)
        scim.get("ResourceTypes", use: resourceTypes)
        scim.get("ResourceTypes", ":id", use: resourceType)
        scim.get("Schemas", use: schemas)
        scim.get("Schemas", ":id", use: schema)
        for path in ["ServiceProviderConfig", "ResourceTypes", "Schemas"] {
            for method in [HTTPMethod.POST, .PUT, .PATCH, .DELETE] {
                scim.on(method, PathComponent(stringLiteral: path), body: body) { _ async throws -> Response in
                    throw SCIMError(.methodNotAllowed, detail: "\(path) is read-only.")
                }
            }
        }
        scim.on(.POST, "Users", body: body, use: createUser)
        scim.get("Users", use: listUsers)
        scim.get("Users", ":id", use: getUser)
        scim.on(.PUT, "Users", ":id", body: body, use: replaceUser)
        scim.on(.PATCH, "Users", ":id", body: body, use: patchUser)
        scim.delete("Users", ":id", use: deleteUser)
        scim.on(.POST, "Groups", body: body, use: createGroup)
        scim.get("Groups", use: listGroups)
        scim.get("Groups", ":id", use: getGroup)
        scim.on(.PUT, "Groups", ":id", body: body, use: replaceGroup)
        scim.on(.PATCH, "Groups", ":id", body: body, use: patchGroup)
        scim.delete("Groups", ":id", use: deleteGroup)
        // Searching by POST (RFC 7644 §3.4.3), at the root or under a resource type: not implemented.
        for path in [[".search"], ["Users", ".search"], ["Groups", ".search"]] {
            scim.on(.POST, path.map { PathComponent(stringLiteral: $0) }, body: body) { req async throws -> Response in
                _ = try await SCIMContext(req)
                throw SCIMError(.notImplemented, detail: "Searching by POST is not supported; list with a filter instead (GET …?filter=).")
            }
        }
        for method in [HTTPMethod.GET, .POST, .PUT, .PATCH, .DELETE] {
            scim.on(method, "**", body: body) { req async throws -> Response in
                _ = try await SCIMContext(req)
                throw SCIMError(.notFound, detail: "No such SCIM endpoint.")
            }
        }
    }

    // MARK: Discovery

    @Sendable func serviceProviderConfig(req: Request) async throws -> Response {
        try SCIM.response(SCIMDiscovery.serviceProviderConfig(base: try await SCIMContext(req).base))
    }

    @Sendable func resourceTypes(req: Request) async throws -> Response {
        try await discovery(req, SCIMDiscovery.resourceTypes, kind: "resource type")
    }

    @Sendable func resourceType(req: Request) async throws -> Response {
        try await discovery(req, SCIMDiscovery.resourceTypes, kind: "resource type", id: req.parameters.get("id") ?? "")
    }

    @Sendable func schemas(req: Request) async throws -> Response {
        try await discovery(req, SCIMDiscovery.schemas, kind: "schema")
    }

    @Sendable func schema(req: Request) async throws -> Response {
        try await discovery(req, SCIMDiscovery.schemas, kind: "schema", id: req.parameters.get("id") ?? "")
    }

    /// A discovery list, or its entry `id`.
    private func discovery(_ req: Request, _ all: (String) -> [SCIM.Object], kind: String, id: String? = nil) async throws -> Response {
        let entries = all(try await SCIMContext(req).base)
        guard let id else { return try SCIM.response(SCIM.list(entries, total: entries.count, startIndex: 1)) }
        guard let found = entries.first(where: { $0["id"] as? String == id }) else {
            throw SCIMError(.notFound, detail: "No \(kind) \(id.prefix(200)).")
        }
        return try SCIM.response(found)
    }

    // MARK: Users

    private func id(_ req: Request, _ kind: String) throws -> UUID {
        guard let raw = req.parameters.get("id"), let id = UUID(uuidString: raw) else {
            throw SCIMError(.notFound, detail: "No \(kind) \((req.parameters.get("id") ?? "").prefix(100)) in this organization.")
        }
        return id
    }

    private func answer(_ req: Request, _ resource: SCIM.Object, status: HTTPResponseStatus = .ok) throws -> Response {
        let (attributes, excluded) = SCIM.Query(req).projection
        let location = status == .created ? (resource["meta"] as? SCIM.Object)?["location"] as? String : nil
        return try SCIM.response(SCIM.project(resource, attributes: attributes, excluded: excluded), status: status, location: location)
    }

    @Sendable func createUser(req: Request) async throws -> Response {
        let users = SCIMUsers(scim: try await SCIMContext(req, decidingUnderLock: true))
        return try answer(req, users.resource(try await users.create(try SCIM.body(req))), status: .created)
    }

    @Sendable func listUsers(req: Request) async throws -> Response {
        let query = SCIM.Query(req)
        // A filter's statement reads whether the organization is there (`Directory.scimUser`): one round trip.
        let users = SCIMUsers(scim: try await SCIMContext(req, readingItself: query["filter"] != nil))
        let filter = try SCIM.filter(query["filter"], allowed: ["userName", "externalId"])
        let (start, count) = query.page
        let (found, total) = try await users.list(filter: filter, startIndex: start, count: count)
        let (attributes, excluded) = query.projection
        return try SCIM.response(SCIM.list(found.map { SCIM.project(users.resource($0), attributes: attributes, excluded: excluded) },
                                           total: total, startIndex: start))
    }

    @Sendable func getUser(req: Request) async throws -> Response {
        let users = SCIMUsers(scim: try await SCIMContext(req))
        return try answer(req, users.resource(try await users.find(try id(req, "user"), on: req.db)))
    }

    @Sendable func replaceUser(req: Request) async throws -> Response {
        let users = SCIMUsers(scim: try await SCIMContext(req, decidingUnderLock: true))
        return try answer(req, users.resource(try await users.replace(try id(req, "user"), with: try SCIM.body(req))))
    }

    @Sendable func patchUser(req: Request) async throws -> Response {
        let users = SCIMUsers(scim: try await SCIMContext(req, decidingUnderLock: true))
        return try answer(req, users.resource(try await users.patch(try id(req, "user"), try SCIM.body(req))))
    }

    @Sendable func deleteUser(req: Request) async throws -> Response {
        let users = SCIMUsers(scim: try await SCIMContext(req, decidingUnderLock: true))
        try await users.delete(try id(req, "user"))
        return Response(status: .noContent)
    }

    // MARK: Groups

    /// The Group resource of `space`, its members left out when the request excludes them (a large space's list).
    private func group(_ req: Request, _ groups: SCIMGroups, _ space: SpaceModel) async throws -> SCIM.Object {
        try await groups.resource(space, withMembers: SCIM.Query(req).returns("members"), on: req.db)
    }

    @Sendable func createGroup(req: Request) async throws -> Response {
        let groups = SCIMGroups(scim: try await SCIMContext(req, forWriting: true))
        let space = try await groups.create(try SCIM.body(req))
        return try answer(req, try await group(req, groups, space), status: .created)
    }

    @Sendable func listGroups(req: Request) async throws -> Response {
        let groups = SCIMGroups(scim: try await SCIMContext(req))
        let query = SCIM.Query(req)
        let filter = try SCIM.filter(query["filter"], allowed: ["displayName", "externalId"])
        let (start, count) = query.page
        let (found, total) = try await groups.list(filter: filter, startIndex: start, count: count)
        let (attributes, excluded) = query.projection
        var resources: [SCIM.Object] = []
        for space in found { resources.append(SCIM.project(try await groups.resource(space, withMembers: query.returns("members"), on: req.db), attributes: attributes, excluded: excluded)) }
        return try SCIM.response(SCIM.list(resources, total: total, startIndex: start))
    }

    @Sendable func getGroup(req: Request) async throws -> Response {
        let groups = SCIMGroups(scim: try await SCIMContext(req))
        return try answer(req, try await group(req, groups, try await groups.space(try id(req, "group"), on: req.db)))
    }

    @Sendable func replaceGroup(req: Request) async throws -> Response {
        let groups = SCIMGroups(scim: try await SCIMContext(req, forWriting: true))
        let space = try await groups.replace(try id(req, "group"), with: try SCIM.body(req))
        return try answer(req, try await group(req, groups, space))
    }

    @Sendable func patchGroup(req: Request) async throws -> Response {
        let groups = SCIMGroups(scim: try await SCIMContext(req, forWriting: true))
        let space = try await groups.patch(try id(req, "group"), try SCIM.body(req))
        return try answer(req, try await group(req, groups, space))
    }

    @Sendable func deleteGroup(req: Request) async throws -> Response {
        let groups = SCIMGroups(scim: try await SCIMContext(req, forWriting: true))
        try await groups.delete(try id(req, "group"))
        return Response(status: .noContent)
    }
}

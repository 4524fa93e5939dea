import Foundation
import Fluent
import Vapor
@testable import RosterApp
import RosterCore
import RosterStore

extension TestApp {
    /// Creates an organization as the holder of `token`; returns its id.
    @discardableResult
    public func createOrg(_ token: String, name: String = "Acme", slug: String? = nil, settings: [String: Any] = [:]) async throws -> String {
        var body: [String: Any] = ["name": name, "settings": settings]
        if let slug { body["slug"] = slug }
        let response = try await send(.POST, "/v1/orgs", json: body, token: token)
        guard response.status == .created, let id = response.string("id") else {
            throw TestFailure("creating org \(name) answered \(response.status): \(response.text)")
        }
        return id
    }

    /// Invites `email` into org `org` as the holder of `token`.
    @discardableResult
    public func invite(_ token: String, org: String, email: String, role: String? = nil, externalID: String? = nil) async throws -> TestResponse {
        var body: [String: Any] = ["email": email]
        if let role { body["role"] = role }
        if let externalID { body["external_id"] = externalID }
        return try await send(.POST, "/v1/orgs/\(org)/members", json: body, token: token)
    }

    /// Uploads `csv` as an import into `path` (`/v1/orgs/{org}` or `/v1/spaces/{space}`) as the holder of `token`.
    @discardableResult
    public func importCSV(_ path: String, _ csv: String, token: String, dryRun: Bool = false, query: String = "") async throws -> TestResponse {
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "csv")
        let parameters = (dryRun ? ["dry_run=true"] : []) + (query.isEmpty ? [] : [query])
        return try await send(.POST, path + "/imports" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&")), token: token,
                              body: Data(csv.utf8), headers: headers)
    }

    /// The invitation token in the latest invitation email to `email`.
    public func invitationToken(for email: String) async throws -> String {
        guard let message = try await emails(to: email, kind: "invitation").last,
              let range = message.text.range(of: #"/i/[A-Za-z0-9_-]+"#, options: .regularExpression) else {
            throw TestFailure("no invitation email to \(email)")
        }
        return String(message.text[range].dropFirst(3))
    }

    /// Invites `email` as `role` and has them accept: returns the new member's session token and membership id.
    public func addMember(owner: String, org: String, email: String, role: String = "member") async throws -> (token: String, membershipID: String) {
        let invited = try await invite(owner, org: org, email: email, role: role)
        guard invited.status == .created, let id = invited.string("id") else {
            throw TestFailure("inviting \(email) answered \(invited.status): \(invited.text)")
        }
        let token = try await verifiedPerson(email)
        let accepted = try await send(.POST, "/v1/invitations/\(id)/accept", token: token)
        guard accepted.status == .ok else { throw TestFailure("accepting as \(email) answered \(accepted.status): \(accepted.text)") }
        return (token, id)
    }

    /// One membership row as the API shows it.
    public func member(_ token: String, org: String, id: String) async throws -> TestResponse {
        try await send(.GET, "/v1/orgs/\(org)/members/\(id)", token: token)
    }

    /// A platform API key, stored the way `roster keys create` stores one.
    public func apiKey(name: String = "integration") async throws -> String {
        let key = Secret.apiKeyPrefix + Secret.generate()
        let model = APIKeyModel(name: name, keyHash: Secret.hash(key), keyPrefix: String(key.prefix(10)))
        try await app.db.writeTransaction { try await model.create(on: $0) }
        return key
    }

    /// Makes an existing account a platform administrator.
    public func makePlatformAdmin(_ email: String) async throws {
        try await app.db.writeTransaction { try await AccountModel.query(on: $0).set(\.$isPlatformAdmin, to: true).filter(\.$email == email).update() }
    }
}

extension TestResponse {
    /// The body without the fields that differ on every request (request id, ids, timestamps).
    public func stable(dropping keys: Set<String> = ["request_id"]) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in json where !keys.contains(key) { out[key] = String(describing: value) }
        return out
    }
}

extension TestResponse {
    /// When a membership's invitation email goes (`delivery.scheduled_at`), if the answer holds one.
    public var deliveryScheduledAt: Date? {
        ((json["delivery"] as? [String: Any])?["scheduled_at"] as? String).flatMap { try? Date($0, strategy: .iso8601) }
    }
}


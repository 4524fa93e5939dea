import Foundation
import Testing
import Vapor
import RosterTesting

/// Bad input to every endpoint gets a 4xx problem with a stable code, never a 500.
@Suite struct BadInputTests {
    /// Every JSON endpoint, with whether it needs a session.
    static let endpoints: [(HTTPMethod, String, Bool)] = [
        (.POST, "/v1/accounts", false), (.POST, "/v1/accounts/verify", false), (.POST, "/v1/sessions", false),
        (.PATCH, "/v1/me", true), (.DELETE, "/v1/me", true),
    ]

    static let cases: [(name: String, body: Data, contentType: HTTPMediaType?, status: HTTPStatus, code: String)] = [
        ("malformed JSON", Data("{\"email\": ".utf8), .json, .badRequest, "malformed_json"),
        ("not an object", Data("[1, 2]".utf8), .json, .unprocessableEntity, "validation_failed"),
        ("wrong type", Data(#"{"email": 5, "name": [], "password": true, "token": 1, "current_password": 3}"#.utf8), .json, .unprocessableEntity, "validation_failed"),
        ("unknown field", Data(#"{"surprise": 1}"#.utf8), .json, .unprocessableEntity, "validation_failed"),
        // Valid JSON whose number does not fit a whole-number field (the decoder calls it invalid JSON).
        ("fraction for a whole number", Data(#"{"rank": 1.5}"#.utf8), .json, .unprocessableEntity, "validation_failed"),
        ("number out of range", Data(#"{"max_uses": 99999999999999999999999}"#.utf8), .json, .unprocessableEntity, "validation_failed"),
        ("10 MB body", Data(repeating: UInt8(ascii: " "), count: 10 * 1024 * 1024), .json, .payloadTooLarge, "payload_too_large"),
        ("form body", Data("email=a".utf8), .urlEncodedForm, .unsupportedMediaType, "unsupported_media_type"),
    ]

    @Test(arguments: TestBackend.available)
    func everyEndpointRefusesBadBodiesWithAProblem(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let token = try await t.verifiedPerson("bad-input@example.com")
            let org = try await t.createOrg(token, settings: ["join_policy": "request"])
            let invitation = try #require(try await t.invite(token, org: org, email: "someone@example.com").string("id"))
            let key = try await t.apiKey()
            var endpoints: [(HTTPMethod, String, String?)] = Self.endpoints.map { ($0.0, $0.1, $0.2 ? token : nil) }
            endpoints += [
                (.POST, "/v1/orgs", token), (.PATCH, "/v1/orgs/\(org)", token),
                (.POST, "/v1/orgs/\(org)/members", token), (.PATCH, "/v1/orgs/\(org)/members/\(invitation)", token),
                (.POST, "/v1/orgs/\(org)/join-requests", token), (.PUT, "/v1/orgs/\(org)/roles/org/helper", token),
                (.POST, "/v1/orgs/\(org)/invite-links", token),
                (.POST, "/v1/authorize", key),
            ]
            for (method, path, bearer) in endpoints {
                for c in Self.cases {
                    var headers = HTTPHeaders()
                    if let type = c.contentType { headers.contentType = type }
                    let response = try await t.send(method, path, token: bearer, body: c.body, headers: headers)
                    #expect(response.status == c.status, "\(method) \(path) with \(c.name): \(response.text.prefix(200))")
                    #expect(response.code == c.code, "\(method) \(path) with \(c.name)")
                    #expect(response.headers.contentType?.subType == "problem+json")
                    #expect(response.json["title"] is String && response.json["detail"] is String && response.json["type"] is String)
                    #expect(response.json["status"] as? Int == Int(c.status.code))
                }
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func fieldRulesAreListedTogether(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let response = try await t.send(.POST, "/v1/accounts", json: ["email": "no-at-sign", "name": " ", "password": "short"])
            #expect(response.status == .unprocessableEntity)
            #expect(response.code == "validation_failed")
            let fields = (response.json["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
            #expect(fields == ["email", "name", "password"])

            let missing = try await t.send(.POST, "/v1/accounts", json: ["email": "a@example.com"])
            #expect(missing.status == .unprocessableEntity)
            #expect(missing.text.contains("is required"))

            let badSignInEmail = try await t.send(.POST, "/v1/sessions", json: ["email": "nope", "password": "whatever it is"])
            #expect(badSignInEmail.code == "validation_failed")
        }
    }

    @Test(arguments: TestBackend.available)
    func unknownRoutesAndMissingCredentialsAreProblems(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let missing = try await t.send(.GET, "/v1/nothing-here")
            #expect(missing.status == .notFound)
            #expect(missing.code == "not_found")
            for token in [nil, "not-a-token", "rk_not-a-key"] {
                let response = try await t.send(.GET, "/v1/me", token: token)
                #expect(response.status == .unauthorized)
                #expect(response.code == "unauthenticated")
                #expect(response.headers.first(name: .wwwAuthenticate) == "Bearer")
            }
        }
    }
}

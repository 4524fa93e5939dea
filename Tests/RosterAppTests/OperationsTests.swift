import Foundation
import Testing
import Vapor
@testable import RosterApp
import RosterTesting

@Suite struct OperationsTests {
    @Test(arguments: TestBackend.available)
    func healthAndReadiness(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            #expect(try await t.send(.GET, "/healthz").status == .ok)
            let ready = try await t.send(.GET, "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.string("status") == "ok")
        }
    }

    @Test func theOpenAPIDocumentDescribesExactlyTheRoutesThatExist() async throws {
        try await TestApp.with(.sqlite) { t in
            let routes = Set(t.app.routes.all.map { route in
                let path = "/" + route.path.map { component -> String in
                    switch component {
                    case .parameter(let name): "{\(name)}"
                    default: component.description
                    }
                }.joined(separator: "/")
                return "\(route.method.rawValue) \(path)"
            }.filter { route in
                // The document describes the API; the web pages (HTML forms) are not part of it.
                let path = route.split(separator: " ")[1]
                return path.hasPrefix("/v1/") || ["/healthz", "/readyz", "/metrics", "/openapi.json", "/verify-email"].contains(path)
            })
            let response = try await t.send(.GET, "/openapi.json")
            #expect(response.status == .ok)
            let document = try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let documented = Set(paths.flatMap { path, methods in methods.keys.map { "\($0.uppercased()) \(path)" } })
            #expect(routes == documented, "undocumented: \(routes.subtracting(documented).sorted()); not routed: \(documented.subtracting(routes).sorted())")
        }
    }

    @Test func theVerificationLinkPageVerifiesOnlyOnPost() async throws {
        try await TestApp.with(.sqlite) { t in
            try await t.signUp("page@example.com")
            let token = try await t.verificationToken(for: "page@example.com")
            let page = try await t.send(.GET, "/verify-email?token=\(token)")
            #expect(page.status == .ok)
            #expect(page.text.contains("<form method=\"post\""))
            // Opening the link did not verify: the API token still works.
            var headers = HTTPHeaders()
            headers.contentType = .urlEncodedForm
            let done = try await t.send(.POST, "/verify-email", body: Data("token=\(token)".utf8), headers: headers)
            #expect(done.text.contains("Your email is verified"))
            let again = try await t.send(.POST, "/verify-email", body: Data("token=\(token)".utf8), headers: headers)
            #expect(again.text.contains("no longer works"))
        }
    }

    /// The check every API test's responses go through can fail: a wrong body, status or type is reported.
    @Test func theConformanceCheckFindsWhatTheDocumentDoesNotAllow() {
        let json = "application/json"
        #expect(OpenAPIConformance.problems(method: "GET", path: "/v1/me", status: 418, contentType: json, body: Data()).count == 1)
        let wrong = OpenAPIConformance.problems(method: "GET", path: "/v1/me", status: 200, contentType: json,
                                                body: Data(#"{"id":"not-a-uuid","email":7,"extra":true}"#.utf8))
        #expect(wrong.contains { $0.contains("body.id") } && wrong.contains { $0.contains("body.email") } && wrong.contains { $0.contains("body.extra") })
        #expect(wrong.contains { $0.contains("body.name: required") })
        let problem = OpenAPIConformance.problems(method: "GET", path: "/v1/orgs/acme", status: 404, contentType: "application/problem+json",
                                                  body: Data(#"{"type":"about:blank","title":"Not found","status":404,"detail":"x","code":"not_a_code"}"#.utf8))
        #expect(problem.contains { $0.contains("body.code") }, "codes are an enumeration")
        #expect(OpenAPIConformance.problems(method: "GET", path: "/signin", status: 200, contentType: "text/html", body: Data()).isEmpty,
                "web pages are not part of the API")
        #expect(OpenAPIConformance.problems(method: "GET", path: "/v1/undocumented", status: 200, contentType: json, body: Data("{}".utf8)).count == 1)
    }

    /// Generated clients get method names that say what an operation does, and typed query parameters.
    @Test func operationsAreNamedDescribedAndTyped() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: RosterAPI.openAPIDocument) as? [String: Any])
        let operations = (document["paths"] as? [String: [String: [String: Any]]] ?? [:]).values.flatMap(\.values)
        let ids = operations.compactMap { $0["operationId"] as? String }
        #expect(ids.count == operations.count && Set(ids).count == ids.count, "one unique id each")
        #expect(ids.allSatisfy { $0.range(of: "^[a-z][A-Za-z]+$", options: .regularExpression) != nil }, "\(ids.sorted())")
        #expect(["listOrgMembers", "listSpaceMembers", "inviteOrgMember", "acceptInvitation", "importSpaceMembers"].allSatisfy(ids.contains))
        #expect(operations.allSatisfy { ($0["description"] as? String)?.isEmpty == false })
        let parameters = operations.flatMap { $0["parameters"] as? [[String: Any]] ?? [] }
        let status = try #require(parameters.first { $0["name"] as? String == "status" }?["schema"] as? [String: Any])
        #expect((status["enum"] as? [String])?.contains("pending") == true)
        #expect((parameters.first { $0["name"] as? String == "dry_run" }?["schema"] as? [String: Any])?["type"] as? String == "boolean")
        // Links: from what creates something to what takes its id, each naming an operation that exists.
        let linked = operations.flatMap { operation in
            ((operation["responses"] as? [String: [String: Any]]) ?? [:]).values.flatMap { ($0["links"] as? [String: [String: Any]] ?? [:]).values }
        }
        #expect(linked.count > 40 && linked.allSatisfy { ids.contains($0["operationId"] as? String ?? "") })
        let invite = try #require(operations.first { $0["operationId"] as? String == "inviteSpaceMember" })
        let links = try #require(((invite["responses"] as? [String: [String: Any]])?["201"]?["links"]) as? [String: [String: Any]])
        #expect(links["GetSpaceMember"]?["parameters"] as? [String: String] == ["space": "$request.path.space", "id": "$response.body#/id"])
    }

    /// A method an address does not take is 405 with the methods it does; an address that does not exist is 404.
    @Test func anUndeclaredMethodIs405WithTheMethodsAllowed() async throws {
        try await TestApp.with(.sqlite) { t in
            let trace = try await t.send(.TRACE, "/healthz")
            #expect(trace.status == .methodNotAllowed && trace.code == "method_not_allowed")
            #expect(trace.headers.first(name: .allow) == "GET")
            let orgs = try await t.send(.DELETE, "/v1/orgs")
            #expect(orgs.status == .methodNotAllowed && orgs.headers.first(name: .allow) == "GET, POST")
            #expect(try await t.send(.PUT, "/v1/orgs/acme/members/\(UUID())").headers.first(name: .allow) == "DELETE, GET, PATCH")
            #expect(try await t.send(.GET, "/v1/nowhere").status == .notFound)
        }
    }
}

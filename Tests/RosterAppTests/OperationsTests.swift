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
}

import Foundation
import Testing
import Vapor
import RosterTesting

/// Issue 13, point 5: an account that forgot its password gets back in through a one-time emailed link.
@Suite struct PasswordResetTests {
    func resetToken(_ t: TestApp, for email: String) async throws -> String {
        guard let message = try await t.emails(to: email, kind: "password_reset").last,
              let range = message.text.range(of: #"reset-password\?token=[A-Za-z0-9_-]+"#, options: .regularExpression) else {
            throw TestFailure("no password reset email to \(email)")
        }
        return String(message.text[range].dropFirst("reset-password?token=".count))
    }

    @Test(arguments: TestBackend.available)
    func aResetLinkSetsANewPasswordOnceAndEndsEverySession(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let session = try await t.verifiedPerson("ada@example.com")
            let known = try await t.send(.POST, "/v1/password-resets", json: ["email": "Ada@example.com"])
            let unknown = try await t.send(.POST, "/v1/password-resets", json: ["email": "nobody@example.com"])
            #expect(known.status == .accepted && unknown.status == .accepted)
            #expect(known.text == unknown.text, "the answer does not tell whether the address has an account")
            #expect(try await t.emails(to: "nobody@example.com").isEmpty)
            let token = try await resetToken(t, for: "ada@example.com")

            let short = try await t.send(.POST, "/v1/password-resets/confirm", json: ["token": token, "password": "short"])
            #expect(short.code == "validation_failed")
            let confirmed = try await t.send(.POST, "/v1/password-resets/confirm", json: ["token": token, "password": "a brand new password"])
            #expect(confirmed.status == .ok, "\(confirmed.text)")
            #expect(try await t.send(.GET, "/v1/me", token: session).status == .unauthorized, "every session ended")
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "ada@example.com", "password": "long enough password"]).status == .unauthorized)
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "ada@example.com", "password": "a brand new password"]).status == .created)
            let again = try await t.send(.POST, "/v1/password-resets/confirm", json: ["token": token, "password": "yet another password"])
            #expect(again.code == "invalid_token", "a link works once")
        }
    }

    @Test(arguments: TestBackend.available)
    func aResetProvesTheAddressOfAnUnverifiedAccount(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            _ = try await t.signUp("late@example.com")
            #expect(try await t.send(.POST, "/v1/password-resets", json: ["email": "late@example.com"]).status == .accepted)
            let token = try await resetToken(t, for: "late@example.com")
            let confirmed = try await t.send(.POST, "/v1/password-resets/confirm", json: ["token": token, "password": "a brand new password"])
            #expect(confirmed.json["email_verified"] as? Bool == true)
        }
    }

    @Test func theWebPagesAskForTheAddressAndTheNewPassword() async throws {
        try await TestApp.with(.sqlite) { t in
            _ = try await t.verifiedPerson("ada@example.com")
            #expect(try await t.send(.GET, "/signin").text.contains("/forgot-password"))
            #expect(try await t.send(.GET, "/forgot-password").status == .ok)
            var headers = HTTPHeaders()
            headers.contentType = .urlEncodedForm
            headers.replaceOrAdd(name: .cookie, value: "roster_csrf=tok")
            let asked = try await t.send(.POST, "/forgot-password", body: Data("_csrf=tok&email=ada%40example.com".utf8), headers: headers)
            #expect(asked.status == .seeOther && asked.headers.first(name: .location) == "/signin")
            let token = try await resetToken(t, for: "ada@example.com")
            #expect(try await t.send(.GET, "/reset-password?token=\(token)").text.contains(token))
            let set = try await t.send(.POST, "/reset-password", body: Data("_csrf=tok&token=\(token)&password=a+brand+new+password".utf8), headers: headers)
            #expect(set.status == .seeOther && set.headers.first(name: .location) == "/signin")
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "ada@example.com", "password": "a brand new password"]).status == .created)
        }
    }
}

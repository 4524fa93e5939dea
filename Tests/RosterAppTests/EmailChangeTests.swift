import Foundation
import Testing
import Vapor
@testable import RosterApp
import RosterTesting

/// Issue 13, point 5: an account changes its sign-in address only once the new inbox confirms it.
@Suite struct EmailChangeTests {
    func change(_ t: TestApp, _ session: String, to email: String, password: String = "long enough password") async throws -> TestResponse {
        try await t.send(.POST, "/v1/me/email", json: ["email": email, "current_password": password], token: session)
    }

    @Test(arguments: TestBackend.available)
    func theNewAddressTakesOverOnlyWhenItsInboxConfirms(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let ada = try await t.verifiedPerson("ada@example.com")
            _ = try await t.verifiedPerson("bob@example.com")
            #expect(try await change(t, ada, to: "ada@new.example", password: "not my password").code == "validation_failed")
            #expect(try await change(t, ada, to: "Ada@example.com").code == "validation_failed", "already the account's address")
            #expect(try await t.send(.POST, "/v1/me/email", json: ["email": "ada@new.example"], token: ada).code == "validation_failed")

            let free = try await change(t, ada, to: "Ada@New.example")
            let taken = try await change(t, ada, to: "bob@example.com")
            #expect(free.status == .accepted && taken.status == .accepted, "a taken address gets the same answer")
            #expect(Set(free.json.keys) == Set(taken.json.keys))
            #expect(try await t.send(.GET, "/v1/me", token: ada).string("email") == "ada@example.com", "nothing changes before the link is opened")

            // Only the inbox of the taken address learns that it is taken; nothing changes and the link is not spent.
            let takenToken = try #require(try? await t.verificationToken(for: "bob@example.com"))
            for _ in 0..<2 { #expect(try await t.send(.POST, "/v1/accounts/verify", json: ["token": takenToken]).code == "email_taken") }
            // A reset link sent to the former address before the change.
            #expect(try await t.send(.POST, "/v1/password-resets", json: ["email": "ada@example.com"]).status == .accepted)
            let resetToken = try await t.passwordResetToken(for: "ada@example.com")

            let token = try #require(try? await t.verificationToken(for: "ada@new.example"))
            let confirmed = try await t.send(.POST, "/v1/accounts/verify", json: ["token": token])
            #expect(confirmed.status == .ok && confirmed.string("email") == "ada@new.example" && confirmed.json["email_verified"] as? Bool == true)
            let notice = try #require(try await t.emails(to: "ada@example.com", kind: "email_changed").last)
            #expect(notice.text.contains("ada@new.example"))
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "ada@new.example", "password": "long enough password"]).status == .created)
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "ada@example.com", "password": "long enough password"]).status == .unauthorized)
            #expect(try await t.send(.GET, "/v1/me", token: ada).string("email") == "ada@new.example", "the session stays")
            #expect(try await t.send(.POST, "/v1/accounts/verify", json: ["token": token]).code == "invalid_token", "a link works once")
            #expect(try await t.send(.POST, "/v1/accounts/verify", json: ["token": takenToken]).code == "invalid_token",
                    "the account's other open links end with the change")
            let reset = try await t.send(.POST, "/v1/password-resets/confirm", json: ["token": resetToken, "password": "taken over password"])
            #expect(reset.code == "invalid_token", "the former inbox cannot take the account back")
        }
    }

    @Test(arguments: TestBackend.available)
    func linksForANewAddressAreLimitedPerHour(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let ada = try await t.verifiedPerson("ada@example.com")
            for n in 0..<5 { #expect(try await change(t, ada, to: "ada\(n)@new.example").status == .accepted) }
            var sent = 0
            for n in 0..<5 where (try? await t.verificationToken(for: "ada\(n)@new.example")) != nil { sent += 1 }
            #expect(sent == AccountsController.emailChangesPerHour)
        }
    }

    @Test func theAccountPageAsksForTheNewAddressAndTheCurrentPassword() async throws {
        try await TestApp.with(.sqlite) { t in
            let ada = try await t.verifiedPerson("ada@example.com")
            var headers = HTTPHeaders()
            headers.replaceOrAdd(name: .cookie, value: "roster_session=\(ada); roster_csrf=any")
            let page = try await t.send(.GET, "/account", headers: headers)
            #expect(page.status == .ok && page.text.contains("ada@example.com") && page.text.contains(#"action="/account/email""#))
            let csrf = try #require(page.text.range(of: #"name="_csrf" value="[^"]+""#, options: .regularExpression)
                .map { String(page.text[$0].dropFirst(#"name="_csrf" value=""#.count).dropLast()) })
            headers.contentType = .urlEncodedForm
            let wrong = try await t.send(.POST, "/account/email", body: Data("_csrf=\(csrf)&email=ada%40new.example&current_password=nope".utf8),
                                         headers: headers)
            #expect(wrong.status == .seeOther && wrong.headers.first(name: .location) == "/account")
            #expect((try? await t.verificationToken(for: "ada@new.example")) == nil)
            let asked = try await t.send(.POST, "/account/email",
                                         body: Data("_csrf=\(csrf)&email=ada%40new.example&current_password=long+enough+password".utf8), headers: headers)
            #expect(asked.status == .seeOther)
            let token = try #require(try? await t.verificationToken(for: "ada@new.example"))
            let done = try await t.send(.POST, "/verify-email", body: Data("token=\(token)".utf8), headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(done.text.contains("ada@new.example"))
            #expect(try await t.send(.GET, "/v1/me", token: ada).string("email") == "ada@new.example")
        }
    }

    /// A stolen session cannot guess the password at bcrypt speed through the forms that ask for it.
    @Test(arguments: TestBackend.available)
    func currentPasswordChecksAreThrottledLikeSignIns(backend: TestBackend) async throws {
        try await TestApp.with(backend, throttle: .init(maximumFailures: 3, window: 600)) { t in
            let ada = try await t.verifiedPerson("ada@example.com")
            for _ in 0..<3 { #expect(try await change(t, ada, to: "ada@new.example", password: "guess guess guess").code == "validation_failed") }
            #expect(try await change(t, ada, to: "ada@new.example").code == "rate_limited", "even the right one, for now")
            let patch = try await t.send(.PATCH, "/v1/me", json: ["password": "a brand new password", "current_password": "long enough password"], token: ada)
            #expect(patch.code == "rate_limited")
        }
    }
}

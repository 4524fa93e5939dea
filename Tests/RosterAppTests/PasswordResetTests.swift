import Foundation
import Testing
import Vapor
@testable import RosterApp
import RosterCore
import RosterTesting

/// Issue 13, point 5: an account that forgot its password gets back in through a one-time emailed link.
@Suite struct PasswordResetTests {
    @Test(arguments: TestBackend.available)
    func aResetLinkSetsANewPasswordOnceAndEndsEverySession(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let session = try await t.verifiedPerson("ada@example.com")
            let known = try await t.send(.POST, "/v1/password-resets", json: ["email": "Ada@example.com"])
            let unknown = try await t.send(.POST, "/v1/password-resets", json: ["email": "nobody@example.com"])
            #expect(known.status == .accepted && unknown.status == .accepted)
            #expect(known.text == unknown.text, "the answer does not tell whether the address has an account")
            #expect(try await t.emails(to: "nobody@example.com").isEmpty)
            // Locked out by wrong passwords: the reset lifts it.
            for _ in 0..<6 { _ = try await t.send(.POST, "/v1/sessions", json: ["email": "ada@example.com", "password": "guess guess guess"]) }
            let token = try await t.passwordResetToken(for: "ada@example.com")

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
            let token = try await t.passwordResetToken(for: "late@example.com")
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
            let token = try await t.passwordResetToken(for: "ada@example.com")
            #expect(try await t.send(.GET, "/reset-password?token=\(token)").text.contains(token))
            let set = try await t.send(.POST, "/reset-password", body: Data("_csrf=tok&token=\(token)&password=a+brand+new+password".utf8), headers: headers)
            #expect(set.status == .seeOther && set.headers.first(name: .location) == "/signin")
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "ada@example.com", "password": "a brand new password"]).status == .created)
        }
    }

    /// An address signed up by someone else is not taken forever: an account that never verified it is removed after
    /// `ROSTER_UNVERIFIED_TTL_DAYS`, and its owner can sign up with it.
    @Test(arguments: TestBackend.available)
    func unverifiedAccountsAreRemovedAfterTheirTime(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            _ = try await t.signUp("squatted@example.com")
            _ = try await t.verifiedPerson("kept@example.com")
            #expect(try await AccountDeletion.removeUnverified(ttlDays: 7, now: Date(), on: t.app.db) == 0, "not yet")
            #expect(try await AccountDeletion.removeUnverified(ttlDays: 7, now: Date().addingTimeInterval(8 * 86_400), on: t.app.db) == 1)
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "kept@example.com", "password": "long enough password"]).status == .created)
            let again = try await t.send(.POST, "/v1/accounts", json: ["email": "squatted@example.com", "name": "Owner", "password": "long enough password"])
            #expect(again.status == .created, "the address is free again")
        }
    }

    @Test func theTimeToVerifyIsConfigured() throws {
        #expect(try RosterConfiguration.fromEnvironment([:]).unverifiedAccountTTLDays == 7)
        #expect(try RosterConfiguration.fromEnvironment(["ROSTER_UNVERIFIED_TTL_DAYS": "2"]).unverifiedAccountTTLDays == 2)
        #expect(throws: ConfigurationError.self) { try RosterConfiguration.fromEnvironment(["ROSTER_UNVERIFIED_TTL_DAYS": "0"]) }
    }
}

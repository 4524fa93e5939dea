import Foundation
import Testing
import Vapor
@testable import RosterApp
import RosterTesting

@Suite struct AccountsAPITests {
    @Test(arguments: TestBackend.available)
    func signUpVerifySignInAndReadMe(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let created = try await t.send(.POST, "/v1/accounts", json: ["email": " Ada@Example.COM ", "name": "Ada", "password": "correct horse battery"])
            #expect(created.status == .created)
            #expect(created.string("email") == "ada@example.com")
            #expect(created.json["email_verified"] as? Bool == false)
            #expect(created.headers.first(name: "X-Request-Id")?.isEmpty == false)

            let email = try #require(try await t.emails(to: "ada@example.com").first)
            #expect(email.text.contains("http://roster.test/verify-email?token="))
            #expect(email.html.contains("Verify my email address"))

            let verified = try await t.send(.POST, "/v1/accounts/verify", json: ["token": try await t.verificationToken(for: "ada@example.com")])
            #expect(verified.status == .ok)
            #expect(verified.json["email_verified"] as? Bool == true)

            let token = try await t.signIn("ADA@example.com", password: "correct horse battery")
            let me = try await t.send(.GET, "/v1/me", token: token)
            #expect(me.status == .ok)
            #expect(me.string("name") == "Ada")
            #expect(me.string("id") == created.string("id"))
        }
    }

    @Test(arguments: TestBackend.available)
    func aVerificationTokenWorksOnce(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            try await t.signUp("once@example.com")
            let token = try await t.verificationToken(for: "once@example.com")
            #expect(try await t.send(.POST, "/v1/accounts/verify", json: ["token": token]).status == .ok)
            let again = try await t.send(.POST, "/v1/accounts/verify", json: ["token": token])
            #expect(again.status == .unprocessableEntity)
            #expect(again.code == "invalid_token")
        }
    }

    @Test(arguments: TestBackend.available)
    func emailsAreUniqueInCanonicalForm(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            try await t.signUp("twice@example.com")
            let second = try await t.send(.POST, "/v1/accounts", json: ["email": "TWICE@example.com ", "name": "B", "password": "long enough password"])
            #expect(second.status == .conflict)
            #expect(second.code == "email_taken")
        }
    }

    @Test(arguments: TestBackend.available)
    func concurrentSignUpsOfOneEmailCreateOneAccount(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await t.send(.POST, "/v1/accounts", json: ["email": i % 2 == 0 ? "race@example.com" : "RACE@example.com", "name": "R", "password": "long enough password"]).status
                    }
                }
                return try await group.reduce(into: [HTTPStatus]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 7)
        }
    }

    @Test(arguments: TestBackend.available)
    func wrongEmailAndWrongPasswordGetTheSameAnswer(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            try await t.signUp("known@example.com")
            let wrongPassword = try await t.send(.POST, "/v1/sessions", json: ["email": "known@example.com", "password": "not the password"])
            let unknownEmail = try await t.send(.POST, "/v1/sessions", json: ["email": "unknown@example.com", "password": "not the password"])
            #expect(wrongPassword.status == .unauthorized)
            #expect(unknownEmail.status == .unauthorized)
            #expect(wrongPassword.code == "invalid_credentials")
            #expect(wrongPassword.json["detail"] as? String == unknownEmail.json["detail"] as? String)
        }
    }

    /// Issue 13, point 2: one address trying many emails is stopped too; behind `ROSTER_TRUSTED_PROXY` the address
    /// is the one the proxy forwarded, and a forwarded address from anyone else is ignored. Over a real socket.
    @Test(arguments: [true, false])
    func failedSignInsAreLimitedPerClientAddress(behindTrustedProxy: Bool) async throws {
        try await TestApp.with(.sqlite, configuring: {
            $0.signInFailuresPerAddress = 3
            if behindTrustedProxy { $0.trustedProxies = ["127.0.0.1"] }
        }) { t in
            try await t.signUp("ada@example.com")
            // One server for the whole test, and a deadline that only bounds a hang: VaporTesting's `.running` starts
            // and stops a server per request with a 30 s deadline, which a loaded CI machine once missed.
            try await t.app.server.start(address: .hostname("127.0.0.1", port: 0))
            let port = t.app.http.server.shared.localAddress?.port ?? 0
            func signIn(_ email: String, password: String, from address: String) async throws -> HTTPStatus {
                let headers: HTTPHeaders = ["Content-Type": "application/json", "X-Forwarded-For": address]
                let body = try JSONSerialization.data(withJSONObject: ["email": email, "password": password])
                let request = ClientRequest(method: .POST, url: URI(string: "http://127.0.0.1:\(port)/v1/sessions"), headers: headers,
                                            body: ByteBuffer(data: body), timeout: .seconds(300))
                return try await t.app.client.send(request).status
            }
            func attempts() async throws {
                // The client wrote 1.2.3.4; the proxy appended the address it saw.
                let spoofed = "1.2.3.4, 203.0.113.7"
                for n in 0..<3 { #expect(try await signIn("guess\(n)@example.com", password: "guess guess guess", from: spoofed) == .unauthorized) }
                #expect(try await signIn("ada@example.com", password: "long enough password", from: spoofed) == .tooManyRequests,
                        "the address is over its allowance, whatever the email")
                // Another client: behind the proxy it is another address; without one, the socket's address is the same.
                let other = try await signIn("ada@example.com", password: "long enough password", from: "198.51.100.2")
                #expect(other == (behindTrustedProxy ? .created : .tooManyRequests))
            }
            do { try await attempts() } catch { await t.app.server.shutdown(); throw error }
            await t.app.server.shutdown()
        }
    }

    @Test func theAddressLimitStaysBoundedAndCountsIPv6ByItsSlash64() {
        let limit = SignInAddressLimit(failuresPerWindow: 2)
        let now = Date()
        #expect(limit.reserve("2001:db8:0:0:0:0:0:1", now: now) == nil)
        #expect(limit.reserve("2001:db8:0:0:ffff:0:0:2", now: now) == nil)
        #expect(limit.reserve("2001:db8:0:0:1:2:3:4", now: now) != nil, "one host's /64 is one client")
        for n in 0..<(SignInAddressLimit.capacity + 10) { _ = limit.reserve("10.\(n >> 16 & 255).\(n >> 8 & 255).\(n & 255)", now: now) }
        #expect(limit.remembered <= SignInAddressLimit.capacity)
    }

    @Test(arguments: TestBackend.available)
    func repeatedFailedSignInsAreThrottled(backend: TestBackend) async throws {
        try await TestApp.with(backend, throttle: .init(maximumFailures: 3, window: 600)) { t in
            try await t.signUp("victim@example.com")
            for _ in 0..<3 {
                let failed = try await t.send(.POST, "/v1/sessions", json: ["email": "victim@example.com", "password": "guess guess guess"])
                #expect(failed.status == .unauthorized)
            }
            // Even the right password is refused while throttled, with a Retry-After.
            let throttled = try await t.send(.POST, "/v1/sessions", json: ["email": "Victim@example.com", "password": "long enough password"])
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled.code == "rate_limited")
            let retryAfter = try #require(throttled.headers.first(name: .retryAfter).flatMap(Int.init))
            #expect(retryAfter > 0 && retryAfter <= 600)
            // Another email is unaffected.
            try await t.signUp("other@example.com")
            _ = try await t.signIn("other@example.com")
        }
    }

    /// Issue 13, point 2: each attempt is counted before its password is checked, so of 30 parallel wrong passwords
    /// at most the allowance is evaluated (401) and the rest are refused (429), and the right password right after too.
    @Test(arguments: TestBackend.available)
    func parallelWrongPasswordsTripTheThrottle(backend: TestBackend) async throws {
        try await TestApp.with(backend, throttle: .init(maximumFailures: 5, window: 600)) { t in
            try await t.signUp("victim@example.com")
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for _ in 0..<30 {
                    group.addTask { try await t.send(.POST, "/v1/sessions", json: ["email": "victim@example.com", "password": "guess guess guess"]).status }
                }
                return try await group.reduce(into: [HTTPStatus]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .unauthorized }.count == 5, "\(statuses.map(\.code))")
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 25)
            let right = try await t.send(.POST, "/v1/sessions", json: ["email": "victim@example.com", "password": "long enough password"])
            #expect(right.status == .tooManyRequests)
        }
    }

    @Test(arguments: TestBackend.available)
    func signOutRevokesTheSession(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let token = try await t.verifiedPerson("leaver@example.com")
            #expect(try await t.send(.DELETE, "/v1/sessions/current", token: token).status == .noContent)
            let after = try await t.send(.GET, "/v1/me", token: token)
            #expect(after.status == .unauthorized)
            #expect(after.code == "unauthenticated")
        }
    }

    @Test(arguments: TestBackend.available)
    func changingThePasswordSignsOutOtherSessions(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let first = try await t.verifiedPerson("pw@example.com")
            let second = try await t.signIn("pw@example.com")
            let wrong = try await t.send(.PATCH, "/v1/me", json: ["password": "brand new password", "current_password": "wrong one!!"], token: first)
            #expect(wrong.status == .unprocessableEntity)
            let changed = try await t.send(.PATCH, "/v1/me", json: ["name": "  Renamed ", "password": "brand new password", "current_password": "long enough password"], token: first)
            #expect(changed.status == .ok)
            #expect(changed.string("name") == "Renamed")
            #expect(try await t.send(.GET, "/v1/me", token: first).status == .ok)
            #expect(try await t.send(.GET, "/v1/me", token: second).status == .unauthorized)
            _ = try await t.signIn("pw@example.com", password: "brand new password")
        }
    }

    @Test(arguments: TestBackend.available)
    func deletingTheAccountNeedsThePasswordAndEndsSessions(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let token = try await t.verifiedPerson("gone@example.com")
            let refused = try await t.send(.DELETE, "/v1/me", json: ["password": "not my password"], token: token)
            #expect(refused.status == .unprocessableEntity)
            #expect(try await t.send(.DELETE, "/v1/me", json: ["password": "long enough password"], token: token).status == .noContent)
            #expect(try await t.send(.GET, "/v1/me", token: token).status == .unauthorized)
            // The address is free again.
            try await t.signUp("gone@example.com")
        }
    }

    /// Issue 13, point 2: bcrypt has threads of its own. With every one of them busy (a sign-in flood), `/readyz` —
    /// a database round trip — still answers.
    @Test(arguments: TestBackend.available)
    func busyPasswordThreadsLeaveTheDatabaseFree(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let pool = t.app.roster.passwordPool
            let release = DispatchSemaphore(value: 0)
            let started = DispatchSemaphore(value: 0)
            for _ in 0..<pool.numberOfThreads {
                pool.threads.submit { _ in started.signal(); release.wait() }
            }
            for _ in 0..<pool.numberOfThreads { started.wait() }
            defer { for _ in 0..<pool.numberOfThreads { release.signal() } }
            let ready = try await withThrowingTaskGroup(of: HTTPStatus?.self) { group in
                group.addTask { try await t.send(.GET, "/readyz").status }
                group.addTask { try await Task.sleep(for: .seconds(10)); return nil }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            #expect(ready == .ok, "/readyz waited for the password threads")
        }
    }
}

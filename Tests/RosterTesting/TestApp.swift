import Foundation
import Fluent
import Vapor
import VaporTesting
import RosterApp
import RosterCore
import RosterStore
@_exported import RosterStoreTesting

/// Collects emails in memory so tests can read links and tokens out of them.
public actor CapturingMailer: Mailer {
    public private(set) var messages: [EmailMessage] = []

    public init() {}

    public func send(_ message: EmailMessage) async throws { messages.append(message) }

    /// Messages addressed to `email` (canonical), oldest first.
    public func messages(to email: String) -> [EmailMessage] {
        messages.filter { $0.to == EmailAddress.canonicalize(email) }
    }
}

/// A response as a test sees it.
public struct TestResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Data

    /// The body as a JSON object (empty when it is not one).
    public var json: [String: any Sendable] {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]).map { $0.mapValues { $0 as! (any Sendable) } } ?? [:]
    }

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// A string field of the JSON body.
    public func string(_ key: String) -> String? { json[key] as? String }

    /// The problem `code`, for error responses.
    public var code: String? { string("code") }
}

/// A configured Roster app on a fresh database, driven in memory.
public struct TestApp: Sendable {
    public let app: Application
    public let mailer: CapturingMailer
    public let backend: TestBackend
    /// Where this app's data lives (a second app can share it, as a second instance would).
    public let location: DatabaseLocation

    /// The configuration tests run with.
    public static func configuration(location: DatabaseLocation, dataDirectory: String, baseURL: String = "http://roster.test") -> RosterConfiguration {
        RosterConfiguration(dataDirectory: dataDirectory, database: location, host: "127.0.0.1", port: 8080, baseURL: baseURL)
    }

    /// Runs `body` against a new app on a new database of `backend`; shuts both down afterwards.
    public static func with(
        _ backend: TestBackend,
        throttle: SignInThrottle = SignInThrottle(),
        limits: RosterLimits = RosterLimits(),
        sharingDatabaseOf other: TestApp? = nil,
        changeGeneration: ChangeGeneration = .shared,
        baseURL: String = "http://roster.test",
        configuring adjust: (inout RosterConfiguration) -> Void = { _ in },
        _ body: (TestApp) async throws -> Void
    ) async throws {
        let scratch: ScratchDatabase
        if let other {
            scratch = ScratchDatabase(location: other.location, drop: {}, migrated: true)
        } else {
            scratch = try await backend.makeScratchDatabase()
        }
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("roster-data-\(UUID().uuidString)").path
        let app = try await Application.make(.testing)
        app.logger.logLevel = .warning
        let mailer = CapturingMailer()
        do {
            var configuration = configuration(location: scratch.location, dataDirectory: dataDirectory, baseURL: baseURL)
            adjust(&configuration)
            try configure(app, configuration,
                          options: ConfigureOptions(mailer: mailer, bcryptCost: 4, signInThrottle: throttle, limits: limits,
                                                     changeGeneration: changeGeneration))
            if !scratch.migrated { try await RosterApp.migrate(app) }
            try await body(TestApp(app: app, mailer: mailer, backend: backend, location: scratch.location))
        } catch {
            try? await app.asyncShutdown()
            await scratch.drop()
            throw error
        }
        try await app.asyncShutdown()
        await scratch.drop()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    /// Sends a request with an optional JSON body (a dictionary/array literal) and bearer token.
    @discardableResult
    public func send(
        _ method: HTTPMethod, _ path: String, json: Any? = nil, token: String? = nil,
        body: Data? = nil, headers: HTTPHeaders = [:]
    ) async throws -> TestResponse {
        var headers = headers
        var payload = body
        if let json {
            payload = try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])
            if headers.contentType == nil { headers.contentType = .json }
        }
        if let token { headers.bearerAuthorization = BearerAuthorization(token: token) }
        let request = TestingHTTPRequest(
            method: method, url: URI(path: path), headers: headers,
            body: payload.map { ByteBuffer(data: $0) } ?? ByteBuffer())
        let response = try await app.testing().performTest(request: request)
        let body = Data(response.body.readableBytesView)
        // Every response an API test receives must be what the OpenAPI document says.
        OpenAPIConformance.check(method: method.rawValue, path: path, status: Int(response.status.code),
                                 contentType: response.headers.first(name: .contentType), body: body)
        return TestResponse(status: response.status, headers: response.headers, body: body)
    }

    /// Signs up an account and returns its id; the verification email is captured.
    @discardableResult
    public func signUp(_ email: String, name: String = "Test Person", password: String = "long enough password") async throws -> String {
        let response = try await send(.POST, "/v1/accounts", json: ["email": email, "name": name, "password": password])
        guard response.status == .created, let id = response.string("id") else {
            throw TestFailure("sign-up of \(email) answered \(response.status): \(response.text)")
        }
        return id
    }

    /// Emails queued in the outbox for `email` (not those a resend or revocation superseded), oldest first.
    public func emails(to email: String, kind: String? = nil) async throws -> [EmailMessage] {
        var query = OutboxMessageModel.query(on: app.db).filter(\.$recipient == EmailAddress.canonicalize(email))
            .filter(\.$status != "superseded")
        if let kind { query = query.filter(\.$kind == kind) }
        let renderer = EmailRenderer(app)
        var messages: [EmailMessage] = []
        for row in try await query.sort(\.$createdAt).all() { messages.append(try await renderer.message(for: row)) }
        return messages
    }

    /// The token in the latest verification email to `email`.
    public func verificationToken(for email: String) async throws -> String {
        try await token(in: "verification", to: email)
    }

    /// The token in the latest password reset email to `email`.
    public func passwordResetToken(for email: String) async throws -> String {
        try await token(in: "password_reset", to: email)
    }

    /// The one-time token in the latest email of `kind` to `email`.
    func token(in kind: String, to email: String) async throws -> String {
        guard let message = try await emails(to: email, kind: kind).last,
              let range = message.text.range(of: #"token=[A-Za-z0-9_-]+"#, options: .regularExpression) else {
            throw TestFailure("no \(kind) email to \(email)")
        }
        return String(message.text[range].dropFirst("token=".count))
    }

    /// Signs in and returns the session token.
    public func signIn(_ email: String, password: String = "long enough password") async throws -> String {
        let response = try await send(.POST, "/v1/sessions", json: ["email": email, "password": password])
        guard response.status == .created, let token = response.string("token") else {
            throw TestFailure("sign-in of \(email) answered \(response.status): \(response.text)")
        }
        return token
    }

    /// Signs up, verifies the email and signs in: the session token of a verified person.
    public func verifiedPerson(_ email: String, name: String = "Test Person") async throws -> String {
        try await signUp(email, name: name)
        let verify = try await send(.POST, "/v1/accounts/verify", json: ["token": try await verificationToken(for: email)])
        guard verify.status == .ok else { throw TestFailure("verification of \(email) answered \(verify.status)") }
        return try await signIn(email)
    }
}

/// A failure of a test's own set-up.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

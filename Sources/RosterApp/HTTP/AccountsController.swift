import Vapor
import Fluent
import RosterCore
import RosterStore

/// Sign-up, email verification, sessions and the caller's own account (`/v1/accounts`, `/v1/sessions`, `/v1/me`).
struct AccountsController: RouteCollection {
    /// How long a verification link stays valid.
    static let verificationLifetime: TimeInterval = 48 * 3600
    /// How long a session lasts.
    static let sessionLifetime: TimeInterval = 30 * 24 * 3600
    /// How long a password reset link stays valid.
    static let passwordResetLifetime: TimeInterval = 3600
    /// Password reset links made for one account in an hour at most.
    static let passwordResetsPerHour = 3
    /// Links confirming a new address made for one account in an hour at most.
    static let emailChangesPerHour = 3

    func boot(routes: any RoutesBuilder) throws {
        let v1 = routes.grouped("v1")
        v1.post("accounts", use: signUp)
        v1.post("accounts", "verify", use: verify)
        v1.post("sessions", use: signIn)
        v1.post("password-resets", use: requestPasswordReset)
        v1.post("password-resets", "confirm", use: confirmPasswordReset)

        let authed = v1.grouped(BearerAuthenticator())
        authed.delete("sessions", "current", use: signOut)
        authed.get("me", use: me)
        authed.patch("me", use: updateMe)
        authed.post("me", "email", use: changeEmail)
        authed.delete("me", use: deleteMe)
    }

    @Sendable func signUp(req: Request) async throws -> Response {
        let account = try await Self.signUp(req.decodeBody(CreateAccountRequest.self), on: req)
        return try jsonResponse(AccountResponse(account), status: .created)
    }

    /// Creates an unverified account and queues its verification email (the API and the sign-up page).
    static func signUp(_ body: CreateAccountRequest, on req: Request) async throws -> AccountModel {
        let (email, name) = try body.validated()
        let passwordHash = try await req.passwordHashing.hash(body.password)
        let token = Secret.generate()
        return try await AccountStore(req.db).createAccount(
            email: email, name: name, passwordHash: passwordHash, verified: false, platformAdmin: false,
            verificationTokenHash: Secret.hash(token), verificationExpiresAt: Date().addingTimeInterval(Self.verificationLifetime),
            verificationEmail: { EmailTemplates.verification(to: $0.email, name: $0.name, token: token) })
    }

    @Sendable func verify(req: Request) async throws -> AccountResponse {
        let body = try req.decodeBody(VerifyEmailRequest.self)
        guard let account = try await Self.verifyEmail(token: body.token, on: req) else {
            throw RosterError(.invalidToken, "The verification token is unknown, already used or expired.")
        }
        return try AccountResponse(account)
    }

    /// Consumes an emailed verification link (the API and the web page); the account then joins the organizations
    /// that verified its domain under `auto`. Nil for an unknown, used or expired token.
    static func verifyEmail(token: String, on req: Request) async throws -> AccountModel? {
        guard let account = try await AccountStore(req.db).consumeVerification(tokenHash: Secret.hash(token), now: Date()) else { return nil }
        await DomainJoins(db: req.db, limits: req.application.roster.limits).afterVerification(of: account)
        return account
    }

    @Sendable func requestPasswordReset(req: Request) async throws -> Response {
        try await Self.requestPasswordReset(email: req.decodeBody(PasswordResetRequest.self).email, on: req)
        return try jsonResponse(["status": "If an account has this address, a link to choose a new password is on its way."], status: .accepted)
    }

    /// Emails a one-time link to choose a new password, when an account has `email` (the API and the web page). The
    /// answer never says whether one does.
    static func requestPasswordReset(email raw: String, on req: Request) async throws {
        guard let email = EmailAddress(raw) else {
            throw RosterError.validation([FieldIssue(field: "email", message: "must be an email address like name@example.com")])
        }
        let store = AccountStore(req.db)
        guard let account = try await store.account(email: email) else { return }
        let token = Secret.generate(), now = Date()
        try await store.createPasswordReset(for: account, tokenHash: Secret.hash(token), expiresAt: now.addingTimeInterval(passwordResetLifetime),
                                            now: now, perHour: passwordResetsPerHour,
                                            email: EmailTemplates.passwordReset(to: account.email, name: account.name, token: token))
    }

    @Sendable func confirmPasswordReset(req: Request) async throws -> AccountResponse {
        let body = try req.decodeBody(ConfirmPasswordResetRequest.self)
        return try AccountResponse(try await Self.confirmPasswordReset(token: body.token, password: body.password, on: req))
    }

    /// Sets a new password with an emailed token: every session ends (the API and the web page).
    static func confirmPasswordReset(token: String, password: String, on req: Request) async throws -> AccountModel {
        let issues = AccountRules.passwordIssues(password)
        guard issues.isEmpty else { throw RosterError.validation(issues) }
        let store = AccountStore(req.db), tokenHash = Secret.hash(token)
        let refused = RosterError(.invalidToken, "The link is unknown, already used or expired; ask for a new one.")
        // No bcrypt work for a guessed token.
        guard try await store.passwordResetIsOpen(tokenHash: tokenHash, now: Date()) else { throw refused }
        let hash = try await req.passwordHashing.hash(password)
        guard let account = try await store.consumePasswordReset(tokenHash: tokenHash, newPasswordHash: hash, now: Date()) else { throw refused }
        // The link proved control of the address: it counts as verifying it.
        await DomainJoins(db: req.db, limits: req.application.roster.limits).afterVerification(of: account)
        return account
    }

    @Sendable func signIn(req: Request) async throws -> Response {
        let (token, session, account) = try await Self.signIn(req.decodeBody(CreateSessionRequest.self), on: req)
        return try jsonResponse(SessionResponse(token: token, expiresAt: session.expiresAt, account: AccountResponse(account)), status: .created)
    }

    /// Checks the password (throttled per email) and opens a session (the API and the sign-in page).
    static func signIn(_ body: CreateSessionRequest, on req: Request) async throws -> (token: String, session: SessionModel, account: AccountModel) {
        guard let email = EmailAddress(body.email) else {
            throw RosterError.validation([FieldIssue(field: "email", message: "must be an email address like name@example.com")])
        }
        let store = AccountStore(req.db)
        let now = Date()
        // One address trying many emails: counted in memory before anything else.
        let address = req.application.roster.signInAddressLimit.flatMap { limit in req.clientAddress.map { (limit, $0) } }
        if let (limit, address) = address, let wait = limit.reserve(address, now: now) {
            throw RosterError(.rateLimited, "Too many failed sign-ins from your address. Try again in \(wait) seconds.", retryAfter: wait)
        }
        try await reservePasswordAttempt(email: email, now: now, on: req)
        let account = try await store.account(email: email)
        // Verify against a dummy hash when there is no account, so both refusals take the same time.
        let hash = account?.passwordHash ?? req.application.roster.dummyPasswordHash
        let matches = try await req.passwordHashing.verify(body.password, created: hash)
        guard matches, let account else {
            throw RosterError(.invalidCredentials, "The email or password is wrong.")
        }
        try await store.clearSignInFailures(email: email)
        if let (limit, address) = address { limit.release(address) }
        let token = Secret.generate()
        let session = SessionModel(accountID: try account.requireID(), tokenHash: Secret.hash(token), expiresAt: now.addingTimeInterval(Self.sessionLifetime))
        try await AccountStore(req.db).create(session)
        return (token, session, account)
    }

    /// Counts a password attempt for `email` before the password is checked (429 past the email's allowance). Over the
    /// limit already, it is refused on a plain read, without the write lock; otherwise the attempt counts as a failure
    /// atomically, so of N parallel attempts at most the allowance is evaluated, the rest refused without bcrypt.
    static func reservePasswordAttempt(email: EmailAddress, now: Date, on req: Request) async throws {
        let store = AccountStore(req.db), throttle = req.application.roster.signInThrottle
        if let wait = throttle.retryAfter(try await store.signInFailures(email: email), now: now) {
            throw RosterError(.rateLimited, "Too many failed sign-ins for this email. Try again in \(wait) seconds.", retryAfter: wait)
        }
        let reserved = try await store.reserveSignInAttempt(email: email, now: now) { throttle.recordingFailure($0, now: now) }
        if let wait = throttle.retryAfter(reserved: reserved, now: now) {
            throw RosterError(.rateLimited, "Too many failed sign-ins for this email. Try again in \(wait) seconds.", retryAfter: wait)
        }
    }

    /// Checks the signed-in account's current password (changing the password or the email, deleting the account),
    /// counted like sign-ins, so a stolen session cannot guess it at bcrypt speed: 422 on `field` when wrong.
    static func requireCurrentPassword(_ password: String, of account: AccountModel, field: String, on req: Request) async throws {
        guard let email = EmailAddress(account.email) else { throw RosterError(.internalError, "The account's address is not valid.") }
        try await reservePasswordAttempt(email: email, now: Date(), on: req)
        guard try await req.passwordHashing.verify(password, created: account.passwordHash) else {
            throw RosterError.validation([FieldIssue(field: field, message: "is not your current password")])
        }
        try await AccountStore(req.db).clearSignInFailures(email: email)
    }

    @Sendable func signOut(req: Request) async throws -> HTTPStatus {
        let (_, sessionID) = try req.requireAccount()
        try await AccountStore(req.db).deleteSession(sessionID)
        return .noContent
    }

    @Sendable func me(req: Request) async throws -> AccountResponse {
        try AccountResponse(req.requireAccount().account)
    }

    @Sendable func updateMe(req: Request) async throws -> AccountResponse {
        let (account, sessionID) = try req.requireAccount()
        let body = try req.decodeBody(UpdateMeRequest.self)
        var issues: [FieldIssue] = []
        if let raw = body.name {
            switch AccountRules.name(raw) {
            case .success(let name): account.name = name
            case .failure(let issue): issues.append(issue)
            }
        }
        var passwordChanged = false
        if let password = body.password {
            issues += AccountRules.passwordIssues(password)
            if body.currentPassword == nil {
                issues.append(FieldIssue(field: "current_password", message: "is required to change the password"))
            }
        }
        guard issues.isEmpty else { throw RosterError.validation(issues) }
        if let password = body.password, let current = body.currentPassword {
            try await Self.requireCurrentPassword(current, of: account, field: "current_password", on: req)
            account.passwordHash = try await req.passwordHashing.hash(password)
            passwordChanged = true
        }
        // A new password signs out every other session.
        try await AccountStore(req.db).save(account, endingSessionsBut: passwordChanged ? sessionID : nil)
        return try AccountResponse(account)
    }

    @Sendable func changeEmail(req: Request) async throws -> Response {
        let (account, _) = try req.requireAccount()
        let body = try req.decodeBody(ChangeEmailRequest.self)
        let address = try await Self.requestEmailChange(of: account, to: body.email, currentPassword: body.currentPassword, on: req)
        return try jsonResponse(["status": "A link to confirm the new address is on its way to \(address); the account signs in with it once the link is opened."],
                                status: .accepted)
    }

    /// Emails a one-time link to `raw`; opening it makes that the account's address (the API and the account page).
    /// The current password is checked first. The answer is the same whether or not another account has the address
    /// (only the inbox's owner learns it, when the link is opened). Returns the canonical address.
    static func requestEmailChange(of account: AccountModel, to raw: String, currentPassword: String, on req: Request) async throws -> String {
        guard let email = EmailAddress(raw) else {
            throw RosterError.validation([FieldIssue(field: "email", message: "must be an email address like name@example.com")])
        }
        guard email.value != account.email else {
            throw RosterError.validation([FieldIssue(field: "email", message: "is already this account's address")])
        }
        try await Self.requireCurrentPassword(currentPassword, of: account, field: "current_password", on: req)
        let token = Secret.generate(), now = Date()
        try await AccountStore(req.db).createEmailChange(
            for: account, newEmail: email.value, tokenHash: Secret.hash(token), expiresAt: now.addingTimeInterval(verificationLifetime), now: now,
            perHour: emailChangesPerHour, email: EmailTemplates.emailChange(to: email.value, name: account.name, token: token))
        return email.value
    }

    @Sendable func deleteMe(req: Request) async throws -> HTTPStatus {
        let (account, _) = try req.requireAccount()
        let body = try req.decodeBody(DeleteMeRequest.self)
        try await Self.requireCurrentPassword(body.password, of: account, field: "password", on: req)
        try await AccountDeletion.delete(account, requestID: req.id, on: req.db)
        return .noContent
    }
}

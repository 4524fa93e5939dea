import Fluent
import SQLKit
import Foundation
import RosterCore

/// Persistence of accounts, sessions, verification tokens, API keys and sign-in throttling.
public struct AccountStore: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Creates an account and, unless it is created verified, its first verification token, in one transaction.
    /// Refuses an email that is taken with `email_taken`.
    public func createAccount(
        email: EmailAddress, name: String, passwordHash: String, verified: Bool, platformAdmin: Bool,
        verificationTokenHash: String?, verificationExpiresAt: Date, verificationEmail: (@Sendable (AccountModel) -> QueuedEmail)? = nil
    ) async throws -> AccountModel {
        try await db.writeTransaction { db in
            let account = AccountModel(
                email: email.value, name: name, passwordHash: passwordHash,
                emailVerifiedAt: verified ? Date() : nil, isPlatformAdmin: platformAdmin)
            try await account.create(on: db)
            if let verificationTokenHash {
                try await EmailVerificationModel(
                    accountID: try account.requireID(), email: email.value,
                    tokenHash: verificationTokenHash, expiresAt: verificationExpiresAt
                ).create(on: db)
            }
            if let verificationEmail {
                try await Outbox(db).enqueue(verificationEmail(account), orgID: nil, membershipID: nil, now: Date())
            }
            return account
        }
    }

    /// The account with this id, if any.
    public func account(id: UUID) async throws -> AccountModel? {
        try await AccountModel.find(id, on: db)
    }

    /// The account with this canonical email, if any.
    public func account(email: EmailAddress) async throws -> AccountModel? {
        try await AccountModel.query(on: db).filter(\.$email == email.value).first()
    }

    /// Consumes a verification token once: marks the account's email verified and the token used. A token for
    /// another address than the account's (`createEmailChange`) makes that address the account's, ends the account's
    /// other open verification and password reset links and tells the former address; 409 `email_taken` (nothing consumed) when another account has
    /// taken it meanwhile. Returns nil for an unknown, used or expired token.
    public func consumeVerification(tokenHash: String, now: Date) async throws -> AccountModel? {
        try await db.writeTransaction { db -> AccountModel? in
            guard let row = try await EmailVerificationModel.query(on: db)
                .filter(\.$tokenHash == tokenHash)
                .filter(\.$usedAt == nil)
                .filter(\.$expiresAt > now)
                .first()
            else { return nil }
            // Consume-once: only the update that moves used_at from NULL wins.
            let consumed = try await db.sql.update(EmailVerificationModel.schema)
                .set("used_at", to: now)
                .where("id", .equal, row.id)
                .where("used_at", .is, SQLLiteral.null)
                .returning("id")
                .all()
            guard !consumed.isEmpty, let account = try await AccountModel.find(row.$account.id, on: db) else { return nil }
            if account.email != row.email {
                let accountID = try account.requireID()
                if try await AccountModel.query(on: db).filter(\.$email == row.email).count() > 0 {
                    throw RosterError(.emailTaken, "Another account signs in with \(row.email) now; this change cannot be made.")
                }
                let former = account.email
                account.email = row.email
                account.emailVerifiedAt = now
                try await account.save(on: db)   // the unique index is the backstop against a concurrent sign-up
                // Links sent to the former address end too: a password reset from its inbox would take the account back.
                for schema in [EmailVerificationModel.schema, PasswordResetModel.schema] {
                    try await db.sql.update(schema).set("used_at", to: now)
                        .where("account_id", .equal, accountID).where("used_at", .is, SQLLiteral.null).run()
                }
                try await Outbox(db).enqueue(EmailTemplates.emailChanged(to: former, name: account.name, newEmail: account.email),
                                             orgID: nil, membershipID: nil, now: now)
                return account
            }
            if account.emailVerifiedAt == nil {
                account.emailVerifiedAt = now
                try await account.save(on: db)
            }
            return account
        }
    }

    /// Stores a link confirming `newEmail` as `account`'s address and queues its email, in one transaction. At most
    /// `perHour` links are made for one account in an hour (the rest are dropped silently: the answer is the same).
    public func createEmailChange(for account: AccountModel, newEmail: String, tokenHash: String, expiresAt: Date, now: Date, perHour: Int,
                                  email: QueuedEmail) async throws {
        let accountID = try account.requireID()
        try await db.writeTransaction { db in
            try await AccountStore(db).lockAccount(accountID)   // parallel requests count one after another
            let recent = try await EmailVerificationModel.query(on: db).filter(\.$account.$id == accountID)
                .filter(\.$email != account.email).filter(\.$createdAt > now.addingTimeInterval(-3600)).count()
            guard recent < perHour else { return }
            try await EmailVerificationModel(accountID: accountID, email: newEmail, tokenHash: tokenHash, expiresAt: expiresAt).create(on: db)
            try await Outbox(db).enqueue(email, orgID: nil, membershipID: nil, now: now)
        }
    }

    /// Stores a password reset link for `account` and queues its email, in one transaction. At most
    /// `perHour` links are made for one account in an hour (the rest are dropped silently: the answer is the same).
    public func createPasswordReset(for account: AccountModel, tokenHash: String, expiresAt: Date, now: Date, perHour: Int,
                                    email: QueuedEmail) async throws {
        let accountID = try account.requireID()
        try await db.writeTransaction { db in
            try await AccountStore(db).lockAccount(accountID)   // parallel requests count one after another
            let recent = try await PasswordResetModel.query(on: db).filter(\.$account.$id == accountID)
                .filter(\.$createdAt > now.addingTimeInterval(-3600)).count()
            guard recent < perHour else { return }
            try await PasswordResetModel(accountID: accountID, tokenHash: tokenHash, expiresAt: expiresAt, createdAt: now).create(on: db)
            try await Outbox(db).enqueue(email, orgID: nil, membershipID: nil, now: now)
        }
    }

    /// Whether a password reset link with this token hash is open (unused and unexpired): checked before any bcrypt
    /// work is spent on a guessed token.
    public func passwordResetIsOpen(tokenHash: String, now: Date) async throws -> Bool {
        try await PasswordResetModel.query(on: db).filter(\.$tokenHash == tokenHash).filter(\.$usedAt == nil).filter(\.$expiresAt > now).count() > 0
    }

    /// Consumes a password reset link once: sets the new password hash, ends every session of the account and every
    /// other open link, lifts a sign-in lockout, and marks the email verified (the link proved control of it). Nil for
    /// an unknown, used or expired token.
    public func consumePasswordReset(tokenHash: String, newPasswordHash: String, now: Date) async throws -> AccountModel? {
        try await db.writeTransaction { db -> AccountModel? in
            guard let row = try await PasswordResetModel.query(on: db).filter(\.$tokenHash == tokenHash)
                .filter(\.$usedAt == nil).filter(\.$expiresAt > now).first() else { return nil }
            let consumed = try await db.sql.update(PasswordResetModel.schema).set("used_at", to: now)
                .where("id", .equal, row.id).where("used_at", .is, SQLLiteral.null).returning("id").all()
            guard !consumed.isEmpty, let account = try await AccountModel.find(row.$account.id, on: db) else { return nil }
            account.passwordHash = newPasswordHash
            if account.emailVerifiedAt == nil { account.emailVerifiedAt = now }
            try await account.save(on: db)
            let accountID = try account.requireID()
            try await SessionModel.query(on: db).filter(\.$account.$id == accountID).delete()
            try await db.sql.update(PasswordResetModel.schema).set("used_at", to: now)
                .where("account_id", .equal, accountID).where("used_at", .is, SQLLiteral.null).run()
            // A new password lifts a sign-in lockout: the failures were against the old one.
            try await SignInFailureModel.query(on: db).filter(\.$id == account.email).delete()
            return account
        }
    }

    /// Accounts whose address was never verified, created before `cutoff` (a batch at a time).
    public func unverifiedAccounts(createdBefore cutoff: Date, limit: Int) async throws -> [AccountModel] {
        try await AccountModel.query(on: db).filter(\.$emailVerifiedAt == nil).filter(\.$createdAt < cutoff).limit(limit).all()
    }

    /// Counts one sign-in attempt for `email` before its password is checked: the record after `advance` (the
    /// throttle's rule) is stored and returned, in one transaction that holds the record's row (created if missing,
    /// then read `FOR UPDATE` on PostgreSQL; SQLite's writers are serialized), so parallel attempts count one by one.
    /// The recorded failures for `email`, read without a lock: an attempt already over the limit is refused on this
    /// read alone, without taking the write lock.
    public func signInFailures(email: EmailAddress) async throws -> SignInThrottle.Record? {
        guard let row = try await SignInFailureModel.find(email.value, on: db), row.failures > 0 else { return nil }
        return SignInThrottle.Record(failures: row.failures, windowStart: row.windowStart)
    }

    public func reserveSignInAttempt(email: EmailAddress, now: Date,
                                     advance: @escaping @Sendable (SignInThrottle.Record?) -> SignInThrottle.Record) async throws -> SignInThrottle.Record {
        try await db.writeTransaction { db in
            try await db.sql.insert(into: SignInFailureModel.schema)
                .columns("email", "failures", "window_start")
                .values(SQLBind(email.value), SQLBind(0), SQLBind(now))
                .ignoringConflicts(with: ["email"])
                .run()
            let lock = SQLBackend(db) == .postgres ? " FOR UPDATE" : ""
            let row = try await db.sql.raw("SELECT failures, window_start FROM sign_in_failures WHERE email = \(bind: email.value)\(unsafeRaw: lock)").first()
            let current = try row.map { row -> SignInThrottle.Record? in
                let failures = try row.decode(column: "failures", as: Int.self)
                return failures == 0 ? nil : SignInThrottle.Record(failures: failures, windowStart: try row.decode(column: "window_start", as: Date.self))
            } ?? nil
            let next = advance(current)
            try await db.sql.update(SignInFailureModel.schema).set("failures", to: next.failures).set("window_start", to: next.windowStart)
                .where("email", .equal, email.value).run()
            return next
        }
    }

    /// Forgets failed sign-ins for `email` after a successful one.
    public func clearSignInFailures(email: EmailAddress) async throws {
        try await db.writeTransaction { try await SignInFailureModel.query(on: $0).filter(\.$id == email.value).delete() }
    }

    /// The account behind a live session token hash, with the session id.
    public func session(tokenHash: String, now: Date) async throws -> (session: SessionModel, account: AccountModel)? {
        guard let session = try await SessionModel.query(on: db)
            .filter(\.$tokenHash == tokenHash)
            .filter(\.$expiresAt > now)
            .with(\.$account)
            .first()
        else { return nil }
        return (session, session.account)
    }

    /// Serializes changes that count an account's rows across organizations (PostgreSQL row lock; SQLite holds the write lock).
    public func lockAccount(_ id: UUID) async throws {
        guard SQLBackend(db) == .postgres else { return }
        try await db.sql.raw("SELECT id FROM accounts WHERE id = \(bind: id) FOR UPDATE").run()
    }

    /// The live (not revoked) API key with this hash.
    public func apiKey(keyHash: String) async throws -> APIKeyModel? {
        try await APIKeyModel.query(on: db).filter(\.$keyHash == keyHash).filter(\.$revokedAt == nil).first()
    }

    /// Records that the key authenticated a request at `at` (callers write it at most once a minute).
    public func markUsed(apiKey id: UUID, at: Date) async throws {
        // When a key was last used is nothing an access cache reads: no other instance needs to hear of it.
        try await db.writeTransaction(notifying: .whenAccessChanges) { db in
            try await db.sql.update(APIKeyModel.schema).set("last_used_at", to: at).where("id", .equal, id).run()
        }
    }
}

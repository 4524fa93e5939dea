import Fluent
import RosterCore
import Foundation

/// A person who can sign in. The email is canonical (see `EmailAddress`) and unique.
public final class AccountModel: Model, @unchecked Sendable {
    public static let schema = "accounts"

    @ID(key: .id) public var id: UUID?
    @Field(key: "email") public var email: String
    @Field(key: "name") public var name: String
    @Field(key: "password_hash") public var passwordHash: String
    @OptionalField(key: "email_verified_at") public var emailVerifiedAt: Date?
    @Field(key: "is_platform_admin") public var isPlatformAdmin: Bool
    @Timestamp(key: "created_at", on: .create) public var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) public var updatedAt: Date?

    public init() {}

    public init(id: UUID? = nil, email: String, name: String, passwordHash: String, emailVerifiedAt: Date? = nil, isPlatformAdmin: Bool = false) {
        self.id = id
        self.email = email
        self.name = name
        self.passwordHash = passwordHash
        self.emailVerifiedAt = emailVerifiedAt
        self.isPlatformAdmin = isPlatformAdmin
    }
}

/// A signed-in session: only the SHA-256 of its bearer token is stored.
public final class SessionModel: Model, @unchecked Sendable {
    public static let schema = "sessions"

    @ID(key: .id) public var id: UUID?
    @Parent(key: "account_id") public var account: AccountModel
    @Field(key: "token_hash") public var tokenHash: String
    @Timestamp(key: "created_at", on: .create) public var createdAt: Date?
    @Field(key: "expires_at") public var expiresAt: Date

    public init() {}

    public init(accountID: UUID, tokenHash: String, expiresAt: Date) {
        self.$account.id = accountID
        self.tokenHash = tokenHash
        self.expiresAt = expiresAt
    }
}

/// A platform API key (`rk_…`) for integrations; only its SHA-256 is stored.
public final class APIKeyModel: Model, @unchecked Sendable {
    public static let schema = "api_keys"

    @ID(key: .id) public var id: UUID?
    @Field(key: "name") public var name: String
    @Field(key: "key_hash") public var keyHash: String
    /// The first characters of the key, shown in listings so an operator can tell keys apart.
    @Field(key: "key_prefix") public var keyPrefix: String
    @Timestamp(key: "created_at", on: .create) public var createdAt: Date?
    @OptionalField(key: "revoked_at") public var revokedAt: Date?
    /// The organization of an organization key (nil: a platform key, created with the CLI).
    @OptionalField(key: "org_id") public var orgID: UUID?
    /// An organization key's permissions, comma-separated.
    @OptionalField(key: "permissions") public var permissions: String?
    /// The spaces an organization key is limited to, comma-separated ids (nil: the whole organization).
    @OptionalField(key: "space_ids") public var spaceIDs: String?
    /// The owner who created an organization key.
    @OptionalField(key: "created_by") public var createdBy: UUID?
    /// When the key last authenticated a request (written at most once a minute).
    @OptionalField(key: "last_used_at") public var lastUsedAt: Date?

    public init() {}

    /// The permissions of an organization key.
    public var permissionSet: Set<Permission> { Set((permissions ?? "").split(separator: ",").compactMap { Permission(rawValue: String($0)) }) }

    /// The spaces an organization key is limited to (nil: not limited).
    public var spaceIDSet: Set<UUID>? { spaceIDs.map { Set($0.split(separator: ",").compactMap { UUID(uuidString: String($0)) }) } }

    public init(name: String, keyHash: String, keyPrefix: String) {
        self.name = name
        self.keyHash = keyHash
        self.keyPrefix = keyPrefix
    }
}

/// A one-time email-verification token (stored hashed) for one account.
public final class EmailVerificationModel: Model, @unchecked Sendable {
    public static let schema = "email_verifications"

    @ID(key: .id) public var id: UUID?
    @Parent(key: "account_id") public var account: AccountModel
    @Field(key: "email") public var email: String
    @Field(key: "token_hash") public var tokenHash: String
    @Field(key: "expires_at") public var expiresAt: Date
    @OptionalField(key: "used_at") public var usedAt: Date?
    @Timestamp(key: "created_at", on: .create) public var createdAt: Date?

    public init() {}

    public init(accountID: UUID, email: String, tokenHash: String, expiresAt: Date) {
        self.$account.id = accountID
        self.email = email
        self.tokenHash = tokenHash
        self.expiresAt = expiresAt
    }
}

/// Failed sign-ins for one canonical email inside the current throttling window.
public final class SignInFailureModel: Model, @unchecked Sendable {
    public static let schema = "sign_in_failures"

    @ID(custom: "email", generatedBy: .user) public var id: String?
    @Field(key: "failures") public var failures: Int
    @Field(key: "window_start") public var windowStart: Date

    public init() {}

    public init(email: String, failures: Int, windowStart: Date) {
        self.id = email
        self.failures = failures
        self.windowStart = windowStart
    }
}

/// A one-time link to choose a new password: only the SHA-256 of its token is stored.
public final class PasswordResetModel: Model, @unchecked Sendable {
    public static let schema = "password_resets"

    @ID(key: .id) public var id: UUID?
    @Parent(key: "account_id") public var account: AccountModel
    @Field(key: "token_hash") public var tokenHash: String
    @Field(key: "expires_at") public var expiresAt: Date
    @OptionalField(key: "used_at") public var usedAt: Date?
    @Field(key: "created_at") public var createdAt: Date

    public init() {}

    public init(accountID: UUID, tokenHash: String, expiresAt: Date, createdAt: Date) {
        self.$account.id = accountID
        self.tokenHash = tokenHash
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }
}

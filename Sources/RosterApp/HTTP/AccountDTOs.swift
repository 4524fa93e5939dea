import Vapor
import RosterCore
import RosterStore

/// `POST /v1/accounts`.
struct CreateAccountRequest: RequestBody {
    static let fields: Set<String> = ["email", "name", "password"]
    var email: String
    var name: String
    var password: String
}

/// `POST /v1/accounts/verify`.
struct VerifyEmailRequest: RequestBody {
    static let fields: Set<String> = ["token"]
    var token: String
}

/// `POST /v1/password-resets`.
struct PasswordResetRequest: RequestBody {
    static let fields: Set<String> = ["email"]
    var email: String
}

/// `POST /v1/password-resets/confirm`.
struct ConfirmPasswordResetRequest: RequestBody {
    static let fields: Set<String> = ["token", "password"]
    var token: String
    var password: String
}

/// `POST /v1/sessions`.
struct CreateSessionRequest: RequestBody {
    static let fields: Set<String> = ["email", "password"]
    var email: String
    var password: String
}

/// `PATCH /v1/me`: a new name, or a new password together with the current one.
struct UpdateMeRequest: RequestBody {
    static let fields: Set<String> = ["name", "password", "current_password"]
    var name: String?
    var password: String?
    var currentPassword: String?

    enum CodingKeys: String, CodingKey {
        case name, password
        case currentPassword = "current_password"
    }
}

/// `POST /v1/me/email`: a new address, confirmed by the current password (and then from its inbox).
struct ChangeEmailRequest: RequestBody {
    static let fields: Set<String> = ["email", "current_password"]
    var email: String
    var currentPassword: String

    enum CodingKeys: String, CodingKey {
        case email
        case currentPassword = "current_password"
    }
}

/// `DELETE /v1/me`: the password confirms the deletion.
struct DeleteMeRequest: RequestBody {
    static let fields: Set<String> = ["password"]
    var password: String
}

/// An account as the API shows it.
struct AccountResponse: Content {
    var id: UUID
    var email: String
    var name: String
    var emailVerified: Bool
    var isPlatformAdmin: Bool
    var createdAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, email, name
        case emailVerified = "email_verified"
        case isPlatformAdmin = "is_platform_admin"
        case createdAt = "created_at"
    }

    init(_ account: AccountModel) throws {
        id = try account.requireID()
        email = account.email
        name = account.name
        emailVerified = account.emailVerifiedAt != nil
        isPlatformAdmin = account.isPlatformAdmin
        createdAt = account.createdAt
    }
}

/// `POST /v1/sessions` → the bearer token, shown once.
struct SessionResponse: Content {
    var token: String
    var expiresAt: Date
    var account: AccountResponse

    enum CodingKeys: String, CodingKey {
        case token, account
        case expiresAt = "expires_at"
    }
}

extension CreateAccountRequest {
    /// The canonical email and trimmed name, or every issue with the request at once.
    func validated() throws -> (email: EmailAddress, name: String) {
        var issues: [FieldIssue] = []
        let email = EmailAddress(self.email)
        if email == nil { issues.append(FieldIssue(field: "email", message: "must be an email address like name@example.com")) }
        var name = ""
        switch AccountRules.name(self.name) {
        case .success(let value): name = value
        case .failure(let issue): issues.append(issue)
        }
        issues += AccountRules.passwordIssues(password)
        guard issues.isEmpty, let email else { throw RosterError.validation(issues) }
        return (email, name)
    }
}

import Foundation

/// A stable, machine-readable refusal code, shown as `code` in every problem+json body.
///
/// The raw value is the wire value; never rename a case's raw value once released.
public enum ProblemCode: String, Sendable, Codable, CaseIterable {
    case unauthenticated
    case invalidCredentials = "invalid_credentials"
    case forbidden
    case roleEscalation = "role_escalation"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case lastOwner = "last_owner"
    case invitationPending = "invitation_pending"
    case externalIDTaken = "external_id_taken"
    case alreadyMember = "already_member"
    case alreadyInvited = "already_invited"
    case joinRequestPending = "join_request_pending"
    case seatLimit = "seat_limit"
    case roleInUse = "role_in_use"
    case emailTaken = "email_taken"
    case slugTaken = "slug_taken"
    case conflict
    case validationFailed = "validation_failed"
    case unknownRole = "unknown_role"
    case invalidToken = "invalid_token"
    case invalidFile = "invalid_file"
    case changeThresholdExceeded = "change_threshold_exceeded"
    case linkUnusable = "link_unusable"
    case emailDomainNotAllowed = "email_domain_not_allowed"
    /// Another organization has verified this domain.
    case domainTaken = "domain_taken"
    /// Anyone can get an address at this domain (gmail.com, …): no organization can claim it.
    case publicEmailDomain = "public_email_domain"
    /// The domain's verification record was not found in DNS (or DNS did not answer).
    case domainNotVerified = "domain_not_verified"
    case malformedJSON = "malformed_json"
    case unsupportedMediaType = "unsupported_media_type"
    case payloadTooLarge = "payload_too_large"
    case rateLimited = "rate_limited"
    case serviceUnavailable = "service_unavailable"
    case internalError = "internal_error"

    /// The HTTP status this code is answered with.
    public var status: Int {
        switch self {
        case .unauthenticated, .invalidCredentials: 401
        case .forbidden, .roleEscalation, .emailDomainNotAllowed: 403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .lastOwner, .invitationPending, .externalIDTaken, .alreadyMember, .alreadyInvited,
             .joinRequestPending, .seatLimit, .roleInUse, .emailTaken, .slugTaken, .conflict, .domainTaken: 409
        case .payloadTooLarge: 413
        case .linkUnusable: 410
        case .unsupportedMediaType: 415
        case .validationFailed, .unknownRole, .invalidToken, .invalidFile, .changeThresholdExceeded, .publicEmailDomain, .domainNotVerified: 422
        case .malformedJSON: 400
        case .rateLimited: 429
        case .serviceUnavailable: 503
        case .internalError: 500
        }
    }

    /// A short human title for the problem's `title` field.
    public var title: String {
        switch self {
        case .unauthenticated: "Authentication required"
        case .invalidCredentials: "Invalid email or password"
        case .forbidden: "Not allowed"
        case .roleEscalation: "Role escalation refused"
        case .notFound: "Not found"
        case .methodNotAllowed: "Method not allowed"
        case .lastOwner: "An organization needs an active owner"
        case .invitationPending: "An invitation is pending"
        case .externalIDTaken: "External ID already taken"
        case .alreadyMember: "Already a member"
        case .alreadyInvited: "Already invited"
        case .joinRequestPending: "A join request is pending"
        case .seatLimit: "Seat limit reached"
        case .roleInUse: "Role in use"
        case .emailTaken: "Email already registered"
        case .slugTaken: "Slug already taken"
        case .conflict: "Conflict"
        case .validationFailed: "Validation failed"
        case .unknownRole: "Unknown role"
        case .changeThresholdExceeded: "The sync would end too many memberships"
        case .linkUnusable: "The invite link cannot be used"
        case .emailDomainNotAllowed: "Your email domain is not allowed"
        case .domainTaken: "Domain verified by another organization"
        case .publicEmailDomain: "Public email domain"
        case .domainNotVerified: "Domain not verified"
        case .invalidToken: "Invalid or expired token"
        case .invalidFile: "The file cannot be imported"
        case .malformedJSON: "Malformed JSON"
        case .unsupportedMediaType: "Unsupported media type"
        case .payloadTooLarge: "Payload too large"
        case .rateLimited: "Too many requests"
        case .serviceUnavailable: "Service unavailable"
        case .internalError: "Internal error"
        }
    }
}

/// One invalid field of a request: where it is and what is wrong with it.
public struct FieldIssue: Error, Sendable, Codable, Equatable {
    /// The field's JSON path, e.g. `email` or `settings.seat_limit`.
    public var field: String
    /// What is wrong, in words.
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// A refusal decided by the domain or the store: the code, a detail for people, and optional field issues.
public struct RosterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable code.
    public var code: ProblemCode
    /// A sentence for people, specific to this occurrence.
    public var detail: String
    /// Invalid fields, for `validation_failed`.
    public var issues: [FieldIssue]
    /// Seconds after which a retry may succeed, for `rate_limited`.
    public var retryAfter: Int?
    /// Extension members of the problem body (RFC 9457 §3.2), e.g. `invitation_id` for `invitation_pending`.
    public var extensions: [String: String] = [:]

    public init(_ code: ProblemCode, _ detail: String, issues: [FieldIssue] = [], retryAfter: Int? = nil) {
        self.code = code
        self.detail = detail
        self.issues = issues
        self.retryAfter = retryAfter
    }

    /// A `validation_failed` error listing every invalid field.
    public static func validation(_ issues: [FieldIssue]) -> RosterError {
        let detail = issues.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
        return RosterError(.validationFailed, detail, issues: issues)
    }

    /// The opaque 404 used for every refusal that must not reveal whether something exists.
    public static let notFound = RosterError(.notFound, "Nothing was found at this address.")

    public var description: String { "\(code.rawValue): \(detail)" }
}

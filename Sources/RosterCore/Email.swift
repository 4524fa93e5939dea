import Foundation

/// An email ready to hand to a transport: one recipient, a subject, a text part and an HTML part.
public struct EmailMessage: Sendable, Equatable, Codable {
    /// The recipient's canonical address.
    public var to: String
    /// The subject line.
    public var subject: String
    /// The plain-text part.
    public var text: String
    /// The HTML part.
    public var html: String

    public init(to: String, subject: String, text: String, html: String) {
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// The emails Roster sends; each has a template with an HTML and a text part.
public enum EmailKind: String, Sendable, CaseIterable, Codable {
    case verification, invitation
    case joinRequest = "join_request"
    case joinRequestApproved = "join_request_approved"
    case joinRequestRejected = "join_request_rejected"
    case passwordReset = "password_reset"
    case emailChanged = "email_changed"
    case webhookDisabled = "webhook_disabled"
}

/// An email as the outbox stores it: recipient, kind, subject and the template's fields. The body is rendered
/// when the message is delivered, so an import queues 100,000 invitations quickly, links follow the current
/// `ROSTER_BASE_URL`, and a one-time token leaves the outbox once the message is settled.
public struct QueuedEmail: Sendable, Equatable {
    /// The recipient's canonical address.
    public var to: String
    public var kind: EmailKind
    /// The subject line, rendered when the message is queued.
    public var subject: String
    /// The template's inputs (all strings; absent optional values are left out).
    public var fields: [String: String]

    /// A message of `kind` to `to`.
    public init(to: String, kind: EmailKind, subject: String, fields: [String: String]) {
        self.to = to
        self.kind = kind
        self.subject = subject
        self.fields = fields
    }

    /// The fields as the stored JSON object.
    public var payload: String { JSONText.object(fields) }
}

/// The emails Roster queues: who gets which template with which fields, and the subject line.
public enum EmailTemplates {
    /// The email-verification message sent after sign-up.
    public static func verification(to email: String, name: String, token: String) -> QueuedEmail {
        QueuedEmail(to: email, kind: .verification, subject: "Verify your email address for Roster",
                    fields: ["name": name, "email": email, "token": token])
    }

    /// A link confirming `email` as the new address of an account (asked for by the signed-in account).
    public static func emailChange(to email: String, name: String, token: String) -> QueuedEmail {
        QueuedEmail(to: email, kind: .verification, subject: "Confirm your new email address for Roster",
                    fields: ["name": name, "email": email, "token": token, "change": "yes"])
    }

    /// Tells an account's former address that the account now signs in with `newEmail`.
    public static func emailChanged(to formerEmail: String, name: String, newEmail: String) -> QueuedEmail {
        QueuedEmail(to: formerEmail, kind: .emailChanged, subject: "Your Roster email address was changed",
                    fields: ["name": name, "email": formerEmail, "new_email": newEmail])
    }

    /// Tells an owner that Roster disabled one of the organization's webhook endpoints (`gone`: it answered 410;
    /// `failing`: three days of failed deliveries).
    public static func webhookDisabled(to email: String, orgName: String, url: String, reason: String, orgSlug: String) -> QueuedEmail {
        let why = reason == "gone" ? "its receiver answered 410 Gone" : "every delivery to it has failed for three days"
        return QueuedEmail(to: email, kind: .webhookDisabled, subject: "A webhook endpoint of \(orgName) was disabled",
                           fields: ["email": email, "org_name": orgName, "url": url, "why": why, "org_slug": orgSlug])
    }

    /// A link to choose a new password, asked for on the sign-in page or through the API.
    public static func passwordReset(to email: String, name: String, token: String) -> QueuedEmail {
        QueuedEmail(to: email, kind: .passwordReset, subject: "Choose a new Roster password", fields: ["name": name, "email": email, "token": token])
    }

    /// The invitation to join an organization (or one of its spaces). Wording: "has invited you to join".
    public static func invitation(
        to email: String, inviterName: String, organization: String, space: String?, roleName: String, token: String, expiresAt: Date
    ) -> QueuedEmail {
        var fields = ["inviter": inviterName, "organization": organization, "role": roleName, "token": token,
                      "expires_at": utcTimestamp(expiresAt)]
        fields["space"] = space
        return QueuedEmail(to: email, kind: .invitation, subject: "\(inviterName) has invited you to join \(place(organization, space))", fields: fields)
    }

    /// Tells a reviewer that someone asked to join; `reviewPath` is the page where requests are reviewed.
    public static func joinRequest(
        to email: String, requesterName: String, requesterEmail: String, organization: String, space: String?, message: String?, reviewPath: String
    ) -> QueuedEmail {
        var fields = ["requester": requesterName, "requester_email": requesterEmail, "organization": organization, "review_path": reviewPath]
        fields["space"] = space
        fields["message"] = message
        return QueuedEmail(to: email, kind: .joinRequest, subject: "\(requesterName) asked to join \(place(organization, space))", fields: fields)
    }

    /// Tells a requester the outcome of their join request.
    public static func joinRequestDecided(to email: String, approved: Bool, organization: String, space: String?, roleName: String?) -> QueuedEmail {
        var fields = ["organization": organization]
        fields["space"] = space
        fields["role"] = roleName
        let joined = place(organization, space)
        return QueuedEmail(to: email, kind: approved ? .joinRequestApproved : .joinRequestRejected,
                           subject: approved ? "Welcome to \(joined)" : "Your request to join \(joined)", fields: fields)
    }

    /// "Lab in Acme" for a space, "Acme" for an organization.
    public static func place(_ organization: String, _ space: String?) -> String {
        space.map { "\($0) in \(organization)" } ?? organization
    }

    /// `2026-11-29 05:45 UTC`, computed directly (Foundation's date formatters cost milliseconds each on Linux,
    /// which matters when an import writes 100,000 invitations).
    public static func utcTimestamp(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)) UTC"
    }
}

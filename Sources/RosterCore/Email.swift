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

/// The wording of the emails Roster sends.
public enum EmailTemplates {
    /// The email-verification message sent after sign-up.
    public static func verification(to email: String, name: String, link: String, token: String) -> EmailMessage {
        let text = """
        Hello \(name),

        Please confirm that \(email) is your address by opening this link:

        \(link)

        Or send this token to POST /v1/accounts/verify: \(token)

        If you did not create a Roster account, ignore this message.
        """
        let html = """
        <p>Hello \(escapeHTML(name)),</p>
        <p>Please confirm that <strong>\(escapeHTML(email))</strong> is your address:</p>
        <p><a href="\(escapeHTML(link))">Verify my email address</a></p>
        <p>Or send this token to <code>POST /v1/accounts/verify</code>: <code>\(escapeHTML(token))</code></p>
        <p>If you did not create a Roster account, ignore this message.</p>
        """
        return EmailMessage(to: email, subject: "Verify your email address for Roster", text: text, html: html)
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

    /// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attributes.
    public static func escapeHTML(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

extension EmailTemplates {
    /// The invitation to join an organization (or one of its spaces). Wording: "has invited you to join".
    public static func invitation(
        to email: String, inviterName: String, organization: String, space: String?, roleName: String,
        link: String, token: String, expiresAt: Date
    ) -> EmailMessage {
        let place = space.map { "\($0) in \(organization)" } ?? organization
        let expiry = utcTimestamp(expiresAt)
        let text = """
        \(inviterName) has invited you to join \(place) as \(roleName).

        Open this link to accept or decline:

        \(link)

        The invitation expires at \(expiry). Nothing changes until you accept.
        (API: POST /v1/invitation-tokens/\(token)/accept)
        """
        let html = """
        <p><strong>\(escapeHTML(inviterName))</strong> has invited you to join <strong>\(escapeHTML(place))</strong> as \(escapeHTML(roleName)).</p>
        <p><a href="\(escapeHTML(link))">Review the invitation</a></p>
        <p>The invitation expires at \(escapeHTML(expiry)). Nothing changes until you accept.</p>
        """
        return EmailMessage(to: email, subject: "\(inviterName) has invited you to join \(place)", text: text, html: html)
    }

    /// Tells a reviewer that someone asked to join.
    public static func joinRequest(to email: String, requesterName: String, requesterEmail: String, organization: String, space: String?, message: String?, link: String) -> EmailMessage {
        let place = space.map { "\($0) in \(organization)" } ?? organization
        let note = message.map { "\n\nTheir message: \($0)" } ?? ""
        let text = "\(requesterName) (\(requesterEmail)) asked to join \(place).\(note)\n\nReview the request: \(link)\n"
        let html = "<p><strong>\(escapeHTML(requesterName))</strong> (\(escapeHTML(requesterEmail))) asked to join <strong>\(escapeHTML(place))</strong>.</p>"
            + (message.map { "<blockquote>\(escapeHTML($0))</blockquote>" } ?? "")
            + "<p><a href=\"\(escapeHTML(link))\">Review the request</a></p>"
        return EmailMessage(to: email, subject: "\(requesterName) asked to join \(place)", text: text, html: html)
    }

    /// Tells a requester the outcome of their join request.
    public static func joinRequestDecided(to email: String, approved: Bool, organization: String, space: String?, roleName: String?) -> EmailMessage {
        let place = space.map { "\($0) in \(organization)" } ?? organization
        let text = approved
            ? "Your request to join \(place) was approved. You are now a member\(roleName.map { " (\($0))" } ?? "").\n"
            : "Your request to join \(place) was not approved.\n"
        let html = "<p>\(escapeHTML(text.trimmingCharacters(in: .newlines)))</p>"
        return EmailMessage(to: email, subject: approved ? "Welcome to \(place)" : "Your request to join \(place)", text: text, html: html)
    }
}

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

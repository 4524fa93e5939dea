import Vapor
import Leaf
import LeafKit
import RosterCore
import RosterStore

/// Renders queued emails with the Leaf templates in `Views/emails` (`<kind>-html.leaf`, `<kind>-text.leaf`),
/// building links from `ROSTER_BASE_URL`.
public struct EmailRenderer: Sendable {
    let app: Application
    let baseURL: String

    /// The renderer of `app` (its Leaf templates and base URL).
    public init(_ app: Application) {
        self.app = app
        baseURL = app.roster.configuration.baseURL
    }

    /// The message to hand to the transport: rendered from the stored fields, or the stored bodies of a message
    /// queued before templates were rendered at delivery.
    public func message(for row: OutboxMessageModel) async throws -> EmailMessage {
        guard let payload = row.payload else {
            guard !row.textBody.isEmpty else { throw DeliveryFailure(.transient, "message \(row.id?.uuidString ?? "?") has no body and no template fields") }
            return EmailMessage(to: row.recipient, subject: row.subject, text: row.textBody, html: row.htmlBody)
        }
        guard let kind = EmailKind(rawValue: row.kind), let fields = try? JSONDecoder().decode([String: String].self, from: Data(payload.utf8)) else {
            throw DeliveryFailure(.transient, "message \(row.id?.uuidString ?? "?") has unreadable template fields")
        }
        return try await render(QueuedEmail(to: row.recipient, kind: kind, subject: row.subject, fields: fields))
    }

    /// Renders both parts of `email`.
    public func render(_ email: QueuedEmail) async throws -> EmailMessage {
        var context: [String: LeafData] = email.fields.mapValues { .string($0) }
        context["base_url"] = .string(baseURL)
        context["place"] = .string(EmailTemplates.place(email.fields["organization"] ?? "", email.fields["space"]))
        let token = email.fields["token"] ?? ""
        switch email.kind {
        case .invitation: context["link"] = .string("\(baseURL)/i/\(token)")
        case .verification: context["link"] = .string("\(baseURL)/verify-email?token=\(token)")
        case .passwordReset: context["link"] = .string("\(baseURL)/reset-password?token=\(token)")
        case .joinRequest: context["link"] = .string(baseURL + (email.fields["review_path"] ?? ""))
        case .joinRequestApproved, .joinRequestRejected, .emailChanged, .webhookDisabled: break
        }
        let renderer = app.leaf.renderer
        let html = try await renderer.render(path: "emails/\(email.kind.rawValue)-html", context: context).get()
        let text = try await renderer.render(path: "emails/\(email.kind.rawValue)-text", context: context).get()
        return EmailMessage(to: email.to, subject: email.subject, text: String(buffer: text), html: String(buffer: html))
    }
}

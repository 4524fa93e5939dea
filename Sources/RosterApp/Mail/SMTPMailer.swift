import Vapor
import NIOCore
import RosterCore

/// Delivers through an SMTP submission server (`ROSTER_MAIL_TRANSPORT=smtp`), one connection per message; its
/// failures are `DeliveryFailure`s, classified by the SMTP client (DESIGN §5).
struct SMTPMailer: Mailer {
    let client: SMTPClient
    let from: String
    let fromHeader: String

    init(settings: MailConfiguration.SMTPSettings, mail: MailConfiguration, eventLoopGroup: any EventLoopGroup) {
        let security: SMTPConfiguration.Security = switch settings.security {
        case .starttls: .startTLS
        case .tls: .implicitTLS
        case .none: .plain
        }
        client = SMTPClient(configuration: SMTPConfiguration(
            host: settings.host, port: settings.port, security: security, username: settings.username, password: settings.password,
            timeout: .seconds(30), trustRootsFile: settings.caFile), eventLoopGroup: eventLoopGroup)
        from = mail.fromAddress
        fromHeader = MIMEMessage.mailbox(name: mail.fromName, address: mail.fromAddress)
    }

    func send(_ message: EmailMessage) async throws {
        try await client.send(from: from, to: message.to, data: MIMEMessage.render(message, from: fromHeader, domain: domain(of: from)))
    }
}

/// The domain part of an address (for `Message-ID`s).
func domain(of address: String) -> String {
    address.split(separator: "@").last.map(String.init) ?? "localhost"
}

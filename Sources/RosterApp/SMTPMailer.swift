import Vapor
import NIOCore
import RosterCore

/// Why a delivery failed, which decides what the outbox does next (DESIGN §5).
public struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Connection trouble, timeouts, 4xx replies: retried with backoff.
        case transient
        /// The recipient was refused for good (5xx to RCPT or DATA): the invitation is marked undeliverable.
        case recipientRefused
        /// Our own configuration or credentials were refused: delivery pauses; recipients are never blamed.
        case senderSide
    }

    public var kind: Kind
    /// The server's reply or the local error, shown as `last_error`.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Delivers through an SMTP submission server (`ROSTER_MAIL_TRANSPORT=smtp`), one connection per message.
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
        do {
            try await client.send(from: from, to: message.to, data: MIMEMessage.render(message, from: fromHeader, domain: domain(of: from)))
        } catch let error as SMTPError {
            switch error.kind {
            case .transient: throw DeliveryFailure(.transient, error.message)
            case .recipientRefused: throw DeliveryFailure(.recipientRefused, error.message)
            case .senderSide: throw DeliveryFailure(.senderSide, error.message)
            }
        }
    }
}

/// The domain part of an address (for `Message-ID`s).
func domain(of address: String) -> String {
    address.split(separator: "@").last.map(String.init) ?? "localhost"
}

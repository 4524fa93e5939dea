import Vapor
import NIOConcurrencyHelpers
import RosterCore

/// Hands finished emails to a transport.
public protocol Mailer: Sendable {
    /// Delivers (or durably queues) `message`.
    func send(_ message: EmailMessage) async throws
}

/// The default transport: each message becomes an `.eml` file in a directory, and its path is logged.
public struct FileMailer: Mailer {
    /// Where the files go (`<data dir>/outbox`).
    public let directory: String
    let logger: Logger

    public init(directory: String, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    public func send(_ message: EmailMessage) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stamp = Int64(Date().timeIntervalSince1970 * 1000)
        let path = (directory as NSString).appendingPathComponent("\(stamp)-\(UUID().uuidString.lowercased()).eml")
        try Data(MIMEMessage.render(message, from: "Roster <roster@localhost>").utf8).write(to: URL(fileURLWithPath: path))
        logger.info("email written", metadata: ["to": .string(message.to), "subject": .string(message.subject), "path": .string(path)])
    }
}

/// RFC 5322 / MIME rendering of an `EmailMessage` as multipart/alternative (text and HTML, UTF-8).
enum MIMEMessage {
    /// RFC 5322 dates; one formatter, used under a lock (creating one per message is slow).
    private static let dateFormatter: NIOLockedValueBox<DateFormatter> = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return NIOLockedValueBox(formatter)
    }()

    static func render(_ message: EmailMessage, from: String, date: Date = Date()) -> String {
        let boundary = "roster-\(UUID().uuidString.lowercased())"
        let formattedDate = dateFormatter.withLockedValue { $0.string(from: date) }
        let lines = [
            "From: \(from)",
            "To: \(message.to)",
            "Subject: \(encodeHeader(message.subject))",
            "Date: \(formattedDate)",
            "Message-ID: <\(UUID().uuidString.lowercased())@roster>",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
            "",
            "--\(boundary)",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
            message.text,
            "--\(boundary)",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
            message.html,
            "--\(boundary)--",
            "",
        ]
        return lines.joined(separator: "\r\n")
    }

    /// RFC 2047 encoded-word for non-ASCII header text.
    static func encodeHeader(_ value: String) -> String {
        if value.allSatisfy(\.isASCII) { return value }
        return "=?UTF-8?B?\(Data(value.utf8).base64EncodedString())?="
    }
}

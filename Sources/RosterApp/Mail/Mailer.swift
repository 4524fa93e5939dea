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
    let fromHeader: String
    let domain: String
    let logger: Logger

    public init(directory: String, mail: MailConfiguration = MailConfiguration(), logger: Logger) {
        self.directory = directory
        self.fromHeader = MIMEMessage.mailbox(name: mail.fromName, address: mail.fromAddress)
        self.domain = RosterApp.domain(of: mail.fromAddress)
        self.logger = logger
    }

    public func send(_ message: EmailMessage) async throws {
        // Messages hold one-time links: the directory and the files are the owner's alone.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let stamp = Int64(Date().timeIntervalSince1970 * 1000)
        let path = (directory as NSString).appendingPathComponent("\(stamp)-\(UUID().uuidString.lowercased()).eml")
        let data = Data(MIMEMessage.render(message, from: fromHeader, domain: domain).utf8)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        logger.info("email written", metadata: ["to": .string(message.to), "subject": .string(message.subject), "path": .string(path)])
    }
}

/// RFC 5322 / MIME rendering of an `EmailMessage` as multipart/alternative (text and HTML, UTF-8).
enum MIMEMessage {
    static func render(_ message: EmailMessage, from: String, domain: String, date: Date = Date()) -> String {
        let boundary = "roster-\(UUID().uuidString.lowercased())"
        let lines = [
            "From: \(from)",
            "To: \(message.to)",
            "Subject: \(encodeHeader(message.subject))",
            "Date: \(rfc5322Date(date))",
            "Message-ID: <\(UUID().uuidString.lowercased())@\(domain)>",
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

    /// `Name <address>`, the name quoted or RFC 2047-encoded as needed.
    static func mailbox(name raw: String, address: String) -> String {
        let name = withoutControlCharacters(raw)
        guard !name.isEmpty else { return address }
        if name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == " ") }) { return "\(name) <\(address)>" }
        if name.allSatisfy(\.isASCII) {
            return "\"\(name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\" <\(address)>"
        }
        return "\(encodeHeader(name)) <\(address)>"
    }

    /// RFC 2047 encoded-words for non-ASCII header text: UTF-8, base64, at most 75 characters per word, words
    /// split between characters and folded onto continuation lines.
    static func encodeHeader(_ raw: String) -> String {
        let value = withoutControlCharacters(raw)
        if value.allSatisfy(\.isASCII) { return value }
        var words: [String] = []
        var chunk = [UInt8]()
        for character in value {
            let bytes = Array(character.utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    /// `text` with control characters (line breaks above all) as spaces: a header value never starts a new header.
    static func withoutControlCharacters(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    /// `Mon, 30 Nov 2026 09:59:00 +0000`, computed directly (Foundation's formatters are slow on Linux).
    static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((days % 7) + 7) % 7]
        // "2026-11-30 09:59 UTC" gives the civil date; the seconds come from `seconds`.
        let stamp = EmailTemplates.utcTimestamp(date)
        let parts = stamp.split(separator: " ")
        let ymd = parts[0].split(separator: "-")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let month = months[(Int(ymd[1]) ?? 1) - 1]
        let second = ((seconds % 60) + 60) % 60
        return "\(weekday), \(ymd[2]) \(month) \(ymd[0]) \(parts[1]):\(second < 10 ? "0" : "")\(second) +0000"
    }
}

import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Connection settings for ``SMTPClient``.
public struct SMTPConfiguration: Sendable {
    /// How the connection is secured.
    public enum Security: Sendable {
        /// No TLS at all.
        case plain
        /// Plain connection upgraded with STARTTLS, which the server must advertise.
        case startTLS
        /// TLS from the first byte (usually port 465).
        case implicitTLS
    }

    /// Server host name or IP address; also used for certificate verification.
    public var host: String
    /// Server TCP port.
    public var port: Int
    /// Transport security mode.
    public var security: Security
    /// User name for SMTP AUTH; `nil` skips authentication.
    public var username: String?
    /// Password for SMTP AUTH.
    public var password: String?
    /// Name sent with EHLO/HELO.
    public var heloName: String
    /// Time limit for connecting and for each protocol step.
    public var timeout: TimeAmount
    /// PEM file of certificates trusted in addition to the system roots (e.g. a self-signed test server).
    public var trustRootsFile: String?

    /// Creates a configuration; see the properties for the meaning of each value.
    public init(
        host: String, port: Int, security: Security = .plain, username: String? = nil, password: String? = nil,
        heloName: String = "localhost", timeout: TimeAmount = .seconds(30), trustRootsFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.heloName = heloName
        self.timeout = timeout
        self.trustRootsFile = trustRootsFile
    }
}

/// A failed delivery, classified so the outbox knows what to do (DESIGN §5): retry, mark the recipient
/// undeliverable, or pause because our own side was refused. Errors that are not `DeliveryFailure`s count as
/// transient.
public struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    /// Who or what is to blame, which decides what to do next.
    public enum Kind: Sendable {
        /// Temporary: network trouble, a timeout or any 4xx reply. Retry later.
        case transient
        /// The server permanently refused this recipient or this message (5xx at RCPT/DATA).
        case recipientRefused
        /// Our side is misconfigured or refused: TLS, authentication, sender, relay policy (5.7.x), or a server not
        /// speaking SMTP.
        case senderSide
        /// The server could not be reached or gave up before the sender was accepted (connection refused, timeouts,
        /// 4xx before MAIL FROM): nothing is wrong with this message, and every other one would fail the same way.
        case unavailable
    }

    /// The classification of the failure.
    public var kind: Kind
    /// Human-readable detail including the server's code and text, e.g. `550 5.1.1 unknown (RCPT TO)`.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// `kind: message`.
    public var description: String { "\(kind): \(message)" }
}

/// A minimal SMTP client that delivers one message per connection.
public struct SMTPClient: Sendable {
    /// The settings used for every ``send(from:to:data:)``.
    public let configuration: SMTPConfiguration
    /// The event loop group connections are made on.
    public let eventLoopGroup: any EventLoopGroup

    /// The TLS context, made once (loading the trust store for every message would dominate), or why it could
    /// not be made; nil without TLS.
    private let tls: Result<NIOSSLContext, DeliveryFailure>?

    /// Creates a client; no connection is made until ``send(from:to:data:)``.
    public init(configuration: SMTPConfiguration, eventLoopGroup: any EventLoopGroup) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        if configuration.security == .plain {
            tls = nil
        } else {
            var tlsConfig = TLSConfiguration.makeClientConfiguration()
            if let file = configuration.trustRootsFile { tlsConfig.additionalTrustRoots = [.file(file)] }
            tls = Result { try NIOSSLContext(configuration: tlsConfig) }.mapError { DeliveryFailure(.senderSide, "TLS configuration error: \($0)") }
        }
    }

    /// Delivers `data` (a complete RFC 5322 message; any line endings) from `from` to `to`.
    /// Line endings are normalised to CRLF and dot-stuffing is applied. Throws ``DeliveryFailure``.
    public func send(from: String, to: String, data: String) async throws {
        let config = configuration
        guard !from.contains(where: \.isNewline) else { throw DeliveryFailure(.senderSide, "invalid sender address") }
        guard !to.contains(where: \.isNewline) else { throw DeliveryFailure(.recipientRefused, "invalid recipient address") }
        let tls = try self.tls?.get()
        // SNI must not carry an IP address; NIOSSL then verifies the certificate against the peer IP.
        let sni: String? = (try? SocketAddress(ipAddress: config.host, port: 0)) == nil ? config.host : nil
        let implicitTLS = config.security == .implicitTLS ? tls : nil

        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(config.timeout)
                .connect(host: config.host, port: config.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let implicitTLS {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: implicitTLS, serverHostname: sni))
                        }
                        try channel.pipeline.syncOperations.addHandler(ReceivedBytes())
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw DeliveryFailure(.unavailable, Self.classify(error, step: "connect to \(config.host):\(config.port)").message)
        }
        do {
            // executeThenClose closes the channel on every path, success or error.
            try await channel.executeThenClose { inbound, outbound in
                let session = Session(
                    config: config, channel: channel.channel, inbound: inbound.makeAsyncIterator(), outbound: outbound)
                try await session.run(from: from, to: to, data: data, tls: tls, sni: sni)
            }
        } catch {
            throw Self.classify(error, step: "session")
        }
    }

    /// Maps any error to an ``DeliveryFailure`` (SMTP errors pass through unchanged).
    static func classify(_ error: any Error, step: String) -> DeliveryFailure {
        switch error {
        case let error as DeliveryFailure:
            return error
        case NIOSSLError.handshakeFailed(.sslError(let stack))
        where stack.contains(.eofDuringHandshake) || stack.contains(.eofDuringAdditionalCertficiateChainValidation):
            return DeliveryFailure(.transient, "connection dropped during TLS handshake (\(step))")
        case NIOSSLError.uncleanShutdown, NIOSSLError.handshakeFailed(.syscallError):
            return DeliveryFailure(.transient, "TLS connection dropped: \(error) (\(step))")
        case is NIOSSLError, is NIOSSLExtraError, is BoringSSLError:
            return DeliveryFailure(.senderSide, "TLS failure: \(error) (\(step))")
        default:
            return DeliveryFailure(.transient, "network error: \(error) (\(step))")
        }
    }
}

/// One SMTP reply: a code plus its text lines.
struct SMTPReply {
    var code: Int
    var lines: [String]
    var text: String { "\(code) " + lines.joined(separator: " / ") }
}

/// Drives one connection through the protocol. Used by a single task only.
private final class Session {
    static let maxReplyBytes = 8192
    let config: SMTPConfiguration
    let channel: any Channel
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var buffer = ByteBuffer()
    /// Bytes taken from the channel so far (compared with ``ReceivedBytes`` at STARTTLS).
    var pulled = 0

    init(config: SMTPConfiguration, channel: any Channel,
         inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
         outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.config = config
        self.channel = channel
        self.inbound = inbound
        self.outbound = outbound
    }

    func run(from: String, to: String, data: String, tls: NIOSSLContext?, sni: String?) async throws {
        let caps: [String: [String]]
        do {
            caps = try await open(tls: tls, sni: sni)
        } catch {
            let failure = SMTPClient.classify(error, step: "before MAIL FROM")
            throw failure.kind == .transient ? DeliveryFailure(.unavailable, failure.message) : failure
        }
        let eightBit = caps["8BITMIME"] != nil && data.utf8.contains { $0 >= 0x80 }
        try expect(await command("MAIL FROM:<\(from)>" + (eightBit ? " BODY=8BITMIME" : ""), step: "MAIL FROM"),
                   250, step: "MAIL FROM", on5xx: .senderSide)
        let rcpt = try await command("RCPT TO:<\(to)>", step: "RCPT TO")
        try expect(rcpt, 250, 251, step: "RCPT TO", on5xx: Self.refusal(rcpt))
        let dataReply = try await command("DATA", step: "DATA")
        try expect(dataReply, 354, step: "DATA", on5xx: Self.refusal(dataReply))
        let end = try await command(Self.encodeBody(data), step: "end of data", appendCRLF: false)
        try expect(end, 250, step: "end of data", on5xx: Self.refusal(end))
        // The message is accepted; QUIT is a courtesy and its failure is irrelevant.
        _ = try? await command("QUIT", step: "QUIT")
    }

    /// Whom a 5xx after MAIL FROM blames, by its enhanced status code (RFC 3463): 5.1.x (address) and 5.2.x
    /// (mailbox), or a bare 550/551/553, refuse the recipient; 5.7.x and 530 (policy, relay access, authentication)
    /// refuse our side; anything else (system, network, content) is a failed attempt that marks no one.
    static func refusal(_ reply: SMTPReply) -> DeliveryFailure.Kind {
        let enhanced = reply.lines.first?.split(separator: " ").first.map(String.init) ?? ""
        let parts = enhanced.split(separator: ".")
        if parts.count == 3, parts[0] == "5" {
            switch parts[1] {
            case "1", "2": return .recipientRefused
            case "7": return .senderSide
            default: return .transient
            }
        }
        if reply.code == 530 { return .senderSide }
        return [550, 551, 553].contains(reply.code) ? .recipientRefused : .transient
    }

    /// Greeting, EHLO, STARTTLS and AUTH: the connection up to where the sender is named. Returns the capabilities.
    func open(tls: NIOSSLContext?, sni: String?) async throws -> [String: [String]] {
        try expect(await command(nil, step: "greeting"), 220, step: "greeting", on5xx: .senderSide)
        var caps = try await hello()
        if config.security == .startTLS, let tls {
            guard caps["STARTTLS"] != nil else { throw DeliveryFailure(.senderSide, "server does not advertise STARTTLS") }
            try expect(await command("STARTTLS", step: "STARTTLS"), 220, step: "STARTTLS", on5xx: .senderSide)
            // Bytes the server sent after its 220, before the handshake, would be a plaintext injection: refuse them
            // whether they are in our buffer or still queued in the channel (received but not yet read). The count
            // and the TLS handler's insertion happen in one event-loop turn, so nothing slips in between.
            guard buffer.readableBytes == 0 else { throw DeliveryFailure(.senderSide, "data received after STARTTLS reply") }
            let pulled = self.pulled
            try await channel.eventLoop.submit { [channel] in
                let received = try channel.pipeline.syncOperations.handler(type: ReceivedBytes.self).count
                guard received == pulled else { throw DeliveryFailure(.senderSide, "data received after STARTTLS reply") }
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: tls, serverHostname: sni), position: .first)
            }.get()
            caps = try await hello(step: "TLS handshake + EHLO", allowHELO: false)
        }
        if let user = config.username { try await authenticate(user: user, password: config.password ?? "", caps: caps) }
        return caps
    }

    /// EHLO, falling back to HELO on 5xx. Returns the capabilities (keyword → parameters).
    func hello(step: String = "EHLO", allowHELO: Bool = true) async throws -> [String: [String]] {
        let ehlo = try await command("EHLO \(config.heloName)", step: step)
        if (500..<600).contains(ehlo.code), allowHELO {
            try expect(await command("HELO \(config.heloName)", step: "HELO"), 250, step: "HELO", on5xx: .senderSide)
            return [:]
        }
        try expect(ehlo, 250, step: step, on5xx: .senderSide)
        var caps: [String: [String]] = [:]
        for line in ehlo.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map { $0.uppercased() }
            if let key = words.first { caps[key, default: []] += words.dropFirst() }
        }
        return caps
    }

    /// AUTH PLAIN (preferred) or AUTH LOGIN.
    func authenticate(user: String, password: String, caps: [String: [String]]) async throws {
        let mechanisms = caps["AUTH"] ?? []
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString() }
        if mechanisms.contains("PLAIN") {
            try expect(await command("AUTH PLAIN " + b64("\0\(user)\0\(password)"), step: "AUTH PLAIN"),
                       235, step: "AUTH PLAIN", on5xx: .senderSide)
        } else if mechanisms.contains("LOGIN") {
            try expect(await command("AUTH LOGIN", step: "AUTH LOGIN"), 334, step: "AUTH LOGIN", on5xx: .senderSide)
            try expect(await command(b64(user), step: "AUTH LOGIN user"), 334, step: "AUTH LOGIN", on5xx: .senderSide)
            try expect(await command(b64(password), step: "AUTH LOGIN password"), 235, step: "AUTH LOGIN",
                       on5xx: .senderSide)
        } else {
            throw DeliveryFailure(.senderSide, "no supported AUTH mechanism advertised (server offers: \(mechanisms))")
        }
    }

    /// Checks a reply: `expected` passes, 4xx is transient, 5xx is `on5xx`, anything else is a protocol error.
    func expect(_ reply: SMTPReply, _ expected: Int..., step: String, on5xx: DeliveryFailure.Kind) throws {
        switch reply.code {
        case _ where expected.contains(reply.code): return
        case 400..<500: throw DeliveryFailure(.transient, "\(reply.text) (\(step))")
        case 500..<600: throw DeliveryFailure(on5xx, "\(reply.text) (\(step))")
        default: throw DeliveryFailure(.senderSide, "unexpected reply \(reply.text) (\(step))")
        }
    }

    /// Sends `line` (if any) and reads one reply, all under the step timeout.
    /// On timeout the channel is closed from the event loop, which ends any pending read or write.
    func command(_ line: String?, step: String, appendCRLF: Bool = true) async throws -> SMTPReply {
        let timedOut = TimeoutFlag()
        let timer = channel.eventLoop.scheduleTask(in: config.timeout) { [channel] in
            timedOut.set()
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            if let line { try await outbound.write(ByteBuffer(string: appendCRLF ? line + "\r\n" : line)) }
            return try await readReply(step: step)
        } catch {
            if timedOut.isSet {
                throw DeliveryFailure(.transient, "timed out after \(config.timeout.nanoseconds / 1_000_000) ms (\(step))")
            }
            throw SMTPClient.classify(error, step: step)
        }
    }

    /// Reads a possibly multi-line reply (`250-a`, `250-b`, `250 c`).
    func readReply(step: String) async throws -> SMTPReply {
        var lines: [String] = []
        var code: Int?
        var total = 0
        while true {
            let raw = try await readLine(step: step)
            total += raw.count + 2
            guard total <= Self.maxReplyBytes else { throw DeliveryFailure(.senderSide, "reply too long (\(step))") }
            let bytes = Array(raw)
            guard bytes.count >= 3, bytes[0...2].allSatisfy({ (0x30...0x39).contains($0) }),
                  bytes.count == 3 || bytes[3] == 0x20 || bytes[3] == 0x2D,
                  let lineCode = Int(String(decoding: bytes[0...2], as: UTF8.self)), (200..<600).contains(lineCode),
                  code == nil || code == lineCode
            else { throw DeliveryFailure(.senderSide, "malformed reply \"\(String(decoding: raw.prefix(80), as: UTF8.self))\" (\(step))") }
            code = lineCode
            lines.append(String(decoding: bytes.dropFirst(4), as: UTF8.self))
            if bytes.count == 3 || bytes[3] == 0x20 { return SMTPReply(code: lineCode, lines: lines) }
        }
    }

    /// Returns the next line without its CRLF (a bare LF is tolerated).
    func readLine(step: String) async throws -> ArraySlice<UInt8> {
        while true {
            if let lf = buffer.readableBytesView.firstIndex(of: 0x0A) {
                let length = lf - buffer.readerIndex
                guard var line = buffer.readBytes(length: length)?[...] else { break }
                buffer.moveReaderIndex(forwardBy: 1)
                if line.last == 0x0D { line = line.dropLast() }
                return line
            }
            guard buffer.readableBytes <= Self.maxReplyBytes else { throw DeliveryFailure(.senderSide, "reply too long (\(step))") }
            guard var chunk = try await inbound.next() else { break }
            pulled += chunk.readableBytes
            buffer.writeBuffer(&chunk)
        }
        throw DeliveryFailure(.transient, "connection closed by server (\(step))")
    }

    /// Normalises line endings to CRLF, dot-stuffs, and appends the `.` terminator.
    static func encodeBody(_ data: String) -> String {
        let normalized = data.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        var lines = normalized.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        var out = ""
        out.reserveCapacity(data.utf8.count + lines.count + 8)
        for line in lines {
            if line.hasPrefix(".") { out += "." }
            out += line
            out += "\r\n"
        }
        return out + ".\r\n"
    }
}

/// A set-once flag shared between the event loop (timer) and the sending task.
private final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Counts the bytes the connection received (on its event loop), so STARTTLS can tell whether any arrived that the
/// session has not read.
private final class ReceivedBytes: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private(set) var count = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }
}

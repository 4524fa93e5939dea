import Foundation

/// The rules for what a person may choose as a name and password.
public enum AccountRules {
    /// Minimum password length in characters.
    public static let minimumPasswordLength = 10
    /// bcrypt reads at most 72 bytes; longer passwords are refused rather than silently truncated.
    public static let maximumPasswordBytes = 72
    /// Maximum display-name length in characters.
    public static let maximumNameLength = 200

    /// The issues with `password`, empty when it is acceptable.
    public static func passwordIssues(_ password: String, field: String = "password") -> [FieldIssue] {
        if password.count < minimumPasswordLength {
            return [FieldIssue(field: field, message: "must be at least \(minimumPasswordLength) characters")]
        }
        if password.utf8.count > maximumPasswordBytes {
            return [FieldIssue(field: field, message: "must be at most \(maximumPasswordBytes) bytes")]
        }
        return []
    }

    /// The trimmed name, or an issue when it is empty or too long.
    public static func name(_ raw: String, field: String = "name") -> Result<String, FieldIssue> {
        // Foundation's trimming is skipped when the name starts and ends with visible ASCII (almost always).
        let edgesTrimmed = [raw.utf8.first, raw.utf8.last].allSatisfy { $0.map { (0x21...0x7E).contains($0) } ?? false }
        let trimmed = edgesTrimmed ? raw : raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return .failure(FieldIssue(field: field, message: "must not be empty")) }
        if trimmed.utf8.count > maximumNameLength, trimmed.count > maximumNameLength {
            return .failure(FieldIssue(field: field, message: "must be at most \(maximumNameLength) characters"))
        }
        if hasControlCharacters(trimmed) { return .failure(FieldIssue(field: field, message: "must not contain line breaks or control characters")) }
        return .success(trimmed)
    }

    /// Whether `text` holds line breaks, tabs or other control or format characters, which names shown in
    /// email headers and pages must not carry.
    public static func hasControlCharacters(_ text: String) -> Bool {
        // Printable ASCII is decided from the bytes; anything else by each character's Unicode properties.
        if text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) { return false }
        return text.unicodeScalars.contains { [.control, .format, .lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory) }
    }
}

/// Throttling of failed sign-ins for one email address: after `maximumFailures` failures within
/// `window`, further attempts are refused until the window that began with the first failure ends.
public struct SignInThrottle: Sendable, Equatable {
    /// Failures allowed inside one window.
    public var maximumFailures: Int
    /// Length of the window in seconds.
    public var window: TimeInterval

    public init(maximumFailures: Int = 5, window: TimeInterval = 15 * 60) {
        self.maximumFailures = maximumFailures
        self.window = window
    }

    /// The recorded failures for one email.
    public struct Record: Sendable, Equatable {
        public var failures: Int
        public var windowStart: Date
        public init(failures: Int, windowStart: Date) {
            self.failures = failures
            self.windowStart = windowStart
        }
    }

    /// Seconds to wait before trying again, or nil when an attempt may be made now.
    public func retryAfter(_ record: Record?, now: Date) -> Int? {
        guard let record, record.failures >= maximumFailures else { return nil }
        let remaining = record.windowStart.addingTimeInterval(window).timeIntervalSince(now)
        return remaining > 0 ? Int(remaining.rounded(.up)) : nil
    }

    /// Seconds to wait before trying again when `record` is the count *including* the attempt being made (counted
    /// before its password is checked), or nil when this attempt is within the allowance.
    public func retryAfter(reserved record: Record, now: Date) -> Int? {
        guard record.failures > maximumFailures else { return nil }
        let remaining = record.windowStart.addingTimeInterval(window).timeIntervalSince(now)
        return Swift.max(1, Int(remaining.rounded(.up)))
    }

    /// The record after one more failure at `now`.
    public func recordingFailure(_ record: Record?, now: Date) -> Record {
        if let record, now.timeIntervalSince(record.windowStart) < window {
            return Record(failures: record.failures + 1, windowStart: record.windowStart)
        }
        return Record(failures: 1, windowStart: now)
    }
}

/// Where a request comes from.
public enum ClientAddress {
    /// The client's address: the socket's (`peer`), unless the socket is a trusted proxy; then the nearest address in
    /// `X-Forwarded-For` (read right to left) that is not a trusted proxy itself. A client can prepend anything to
    /// that header, so only what the trusted proxies appended is believed. Addresses are compared and returned in
    /// their `canonical` spelling; `trustedProxies` must be canonical.
    public static func resolve(peer rawPeer: String?, forwardedFor: [String], trustedProxies: Set<String>) -> String? {
        guard let rawPeer else { return nil }
        let peer = canonical(rawPeer) ?? rawPeer
        guard trustedProxies.contains(peer) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { canonical(String($0)) }
        for hop in hops.reversed() {
            guard let hop else { return peer }   // not an address: nothing further left is believed
            if !trustedProxies.contains(hop) { return hop }
        }
        return hops.first.flatMap { $0 } ?? peer
    }

    /// The address in one spelling — IPv4 as a dotted quad, IPv6 as eight lowercase groups without leading zeros —
    /// without brackets or a port (`[2001:DB8::1]:443` → `2001:db8:0:0:0:0:0:1`); nil when `text` is not an address.
    public static func canonical(_ text: String) -> String? {
        var address = Substring(text.trimmingCharacters(in: .whitespaces))
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]") else { return nil }
            address = address[address.index(after: address.startIndex)..<close]
        } else if address.filter({ $0 == ":" }).count == 1 {
            address = address[..<address.firstIndex(of: ":")!]   // IPv4 with a port
        }
        if let v4 = ipv4(address) { return v4.map(String.init).joined(separator: ".") }
        return ipv6(address).map { $0.map { String($0, radix: 16) }.joined(separator: ":") }
    }

    /// Whether `text` is an IPv4 or IPv6 address.
    public static func isIPAddress(_ text: String) -> Bool { canonical(text) != nil }

    private static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { $0.count <= 3 && $0.allSatisfy(\.isASCII) ? UInt8($0) : nil }
        return bytes.count == 4 ? bytes : nil
    }

    private static func ipv6(_ text: Substring) -> [UInt16]? {
        guard text.contains(":") else { return nil }
        var body = text, tail: [UInt16] = []
        // An IPv4 ending (`::ffff:192.0.2.1`) is two groups.
        if let lastColon = body.lastIndex(of: ":"), body[body.index(after: lastColon)...].contains(".") {
            guard let v4 = ipv4(body[body.index(after: lastColon)...]) else { return nil }
            tail = [UInt16(v4[0]) << 8 | UInt16(v4[1]), UInt16(v4[2]) << 8 | UInt16(v4[3])]
            body = body[...lastColon]
            if body.hasSuffix(":") && !body.hasSuffix("::") { body = body.dropLast() }
        }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            let values = part.split(separator: ":", omittingEmptySubsequences: false)
                .map { $0.count <= 4 && !$0.isEmpty ? UInt16($0, radix: 16) : nil }
            return values.contains(nil) ? nil : values.compactMap { $0 }
        }
        let halves = body.components(separatedBy: "::")
        guard halves.count <= 2, let head = groups(Substring(halves[0])) else { return nil }
        if halves.count == 2 {
            guard let rest = groups(Substring(halves[1])), head.count + rest.count + tail.count < 8 else { return nil }
            return head + Array(repeating: 0, count: 8 - head.count - rest.count - tail.count) + rest + tail
        }
        return head.count + tail.count == 8 ? head + tail : nil
    }
}

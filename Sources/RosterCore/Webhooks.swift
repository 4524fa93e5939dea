import Foundation

/// The rules of webhook endpoints (issue 15, point 2): which URLs an endpoint may have, which addresses a delivery
/// may reach, and how failed deliveries are retried.
public enum WebhookRules {
    /// Endpoints one organization may have.
    public static let maximumEndpoints = 20
    /// Longest URL accepted.
    public static let maximumURLLength = 2000
    /// How long an endpoint may keep failing before it is disabled and its owners are told.
    public static let giveUpAfter: TimeInterval = 3 * 86_400
    /// How long a rotated-out secret still signs deliveries, by default and at most.
    public static let defaultGraceHours = 24, maximumGraceHours = 168

    /// The parts of an endpoint URL deliveries use.
    public struct Target: Sendable, Equatable {
        public var scheme: String
        public var host: String
        public var port: Int
    }

    /// Checks an endpoint URL: `https` (also `http` when private addresses are allowed, for local receivers), a host,
    /// no user information, and — when the host is an address literal — a public address unless `allowPrivate`.
    /// Host names are resolved and checked by the caller (and again at each delivery).
    public static func target(of raw: String, allowPrivate: Bool) throws(RosterError) -> Target {
        func refuse(_ message: String) -> RosterError { RosterError.validation([FieldIssue(field: "url", message: message)]) }
        guard raw.count <= maximumURLLength else { throw refuse("must be at most \(maximumURLLength) characters") }
        guard let components = URLComponents(string: raw), let scheme = components.scheme?.lowercased(),
              let host = components.host?.lowercased(), !host.isEmpty else {
            throw refuse("must be an absolute URL such as https://example.com/webhooks")
        }
        guard scheme == "https" || (scheme == "http" && allowPrivate) else {
            throw refuse(allowPrivate ? "must start with https:// or http://" : "must start with https://")
        }
        guard components.user == nil, components.password == nil else { throw refuse("must not hold a user name or password") }
        guard components.fragment == nil else { throw refuse("must not have a fragment (#…)") }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if !allowPrivate, let bytes = IPAddress.bytes(of: bare), !IPAddress.isPublic(bytes) {
            throw refuse("points to a private, loopback or reserved address")
        }
        if !allowPrivate, bare == "localhost" || bare.hasSuffix(".localhost") { throw refuse("points to this machine") }
        return Target(scheme: scheme, host: bare, port: components.port ?? (scheme == "https" ? 443 : 80))
    }

    /// The wait before retrying an endpoint after its `attempt`-th failure in a row: `base` seconds (30 by default,
    /// `ROSTER_WEBHOOK_RETRY_SECONDS`) doubling, at most an hour (so 3 days hold about 80 attempts). `jitter` in
    /// 0.8…1.2 spreads endpoints that failed together.
    public static func retryDelay(afterAttempt attempt: Int, base: TimeInterval = 30, jitter: Double = 1) -> TimeInterval {
        min(3600, base * pow(2, Double(max(0, min(attempt - 1, 20))))) * jitter
    }

    /// What a delivery's answer means for the endpoint.
    public enum Outcome: Sendable, Equatable {
        /// 2xx: the event is delivered; the next one follows.
        case delivered
        /// 410 Gone: the receiver asked to stop; the endpoint is disabled.
        case gone
        /// Anything else (another status, a timeout, a refused connection or address): tried again later.
        case failed
    }

    /// The outcome of an HTTP status (nil: no answer).
    public static func outcome(status: Int?) -> Outcome {
        guard let status else { return .failed }
        if (200..<300).contains(status) { return .delivered }
        return status == 410 ? .gone : .failed
    }
}

/// IP addresses as deliveries check them: only public unicast addresses may be reached (SSRF).
public enum IPAddress {
    /// The 4 or 16 bytes of a textual IPv4 or IPv6 address, or nil when `text` is not one.
    public static func bytes(of text: String) -> [UInt8]? {
        if let v4 = ipv4(text) { return v4 }
        return ipv6(text)
    }

    private static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            // Canonical decimal only: `012` is octal to the system's resolver (10), so it is no literal here and is
            // resolved (and checked) as any host name is.
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber), part.count == 1 || part.first != "0",
                  let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    private static func ipv6(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }   // a zone
        guard text.contains(":") else { return nil }
        var tail: [UInt8] = []
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = ipv4(String(text[text.index(after: lastColon)...])) else { return nil }
            tail = v4
            text = text[...lastColon]
            if text.hasSuffix("::") == false { text = text.dropLast() }
        }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var result: [UInt16] = []
            for group in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        let rest = halves.count == 2 ? groups(halves[1]) : []
        guard let rest else { return nil }
        let needed = 8 - tail.count / 2
        var all: [UInt16]
        if halves.count == 2 {
            guard head.count + rest.count < needed else { return nil }
            all = head + Array(repeating: 0, count: needed - head.count - rest.count) + rest
        } else {
            guard head.count == needed else { return nil }
            all = head
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + tail
    }

    /// Whether the address is public unicast: not private, loopback, link-local, shared (CGNAT), multicast,
    /// documentation, benchmarking or reserved. IPv4 inside IPv6 (mapped, NAT64) is judged as IPv4.
    public static func isPublic(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 4 {
            let (a, b, c) = (bytes[0], bytes[1], bytes[2])
            switch a {
            case 0, 10, 127: return false
            case 100 where (64...127).contains(b): return false
            case 169 where b == 254: return false
            case 172 where (16...31).contains(b): return false
            case 192 where b == 168: return false
            case 192 where b == 0 && (c == 0 || c == 2): return false
            case 198 where b == 18 || b == 19: return false
            case 198 where b == 51 && c == 100: return false
            case 203 where b == 0 && c == 113: return false
            case 224...255: return false
            default: return true
            }
        }
        guard bytes.count == 16 else { return false }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return isPublic(Array(bytes[12...])) }   // ::ffff:a.b.c.d
        if bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return isPublic(Array(bytes[12...])) }   // 64:ff9b::/96
        if bytes[0..<15].allSatisfy({ $0 == 0 }) { return false }   // :: and ::1
        if bytes[0] & 0xFE == 0xFC { return false }   // fc00::/7, unique local
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return false }   // fe80::/10, link-local
        if bytes[0] == 0xFF { return false }   // multicast
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8 { return false }   // 2001:db8::/32
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0 && bytes[3] == 0 { return false }   // 2001::/32, Teredo
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return false }   // 2002::/16, 6to4 (an IPv4 address inside)
        return bytes[0] & 0xE0 == 0x20   // 2000::/3, global unicast
    }
}

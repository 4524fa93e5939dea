import Foundation

/// Domain names as Roster accepts them: invite-link domain lists and verified domains share one rule.
public enum DomainName {
    /// The canonical form of `raw` (trimmed, lowercased, without a leading `@`, internationalized labels in their
    /// ASCII form: `bücher.de` is `xn--bcher-kva.de`), or nil when it is not a DNS name of two or more labels of
    /// letters, digits and inner hyphens.
    public static func canonical(_ raw: String) -> String? {
        var domain = raw.trimmingCharacters(in: .whitespaces).lowercased()
        if domain.hasPrefix("@") { domain.removeFirst() }
        if domain.hasSuffix(".") { domain.removeLast() }
        domain = ascii(domain)
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard domain.count <= 253, labels.count >= 2, labels.allSatisfy({ label in
            !label.isEmpty && label.count <= 63 && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
                && label.first != "-" && label.last != "-"
        }), labels.last?.allSatisfy(\.isNumber) == false else { return nil }
        return domain
    }

    /// The domain of a canonical email address (after its last `@`), internationalized labels in their ASCII form
    /// (as domains are kept: `ana@bücher.de` is in `xn--bcher-kva.de`).
    public static func of(email: String) -> String? {
        guard let at = email.lastIndex(of: "@") else { return nil }
        return ascii(String(email[email.index(after: at)...]))
    }

    /// `domain` (canonical) with each `xn--` label in its Unicode form: the other spelling of an address in it.
    public static func unicode(_ domain: String) -> String {
        domain.split(separator: ".", omittingEmptySubsequences: false).map { label in
            label.hasPrefix("xn--") ? Punycode.decode(String(label.dropFirst(4))) ?? String(label) : String(label)
        }.joined(separator: ".")
    }

    /// `domain` with each label holding other than ASCII in its ASCII form (`xn--` and its Punycode, RFC 3492), after
    /// NFC normalization and lowercasing (no other IDNA mapping: `ß` stays itself, as browsers now keep it).
    static func ascii(_ domain: String) -> String {
        guard !domain.allSatisfy(\.isASCII) else { return domain }
        return domain.precomposedStringWithCanonicalMapping.lowercased().split(separator: ".", omittingEmptySubsequences: false).map { label in
            label.allSatisfy(\.isASCII) ? String(label) : Punycode.encode(String(label)).map { "xn--" + $0 } ?? String(label)
        }.joined(separator: ".")
    }
}

/// Punycode (RFC 3492), the encoding of internationalized domain labels.
enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700, initialBias = 72, initialN = 128

    /// The Punycode of `label` (without the `xn--` prefix), or nil on overflow.
    static func encode(_ label: String) -> String? {
        let input = label.unicodeScalars.map { Int($0.value) }
        var output = input.filter { $0 < 0x80 }.map { Character(Unicode.Scalar(UInt8($0))) }
        let basic = output.count
        if basic > 0 { output.append("-") }
        var n = initialN, delta = 0, bias = initialBias, handled = basic
        while handled < input.count {
            guard let m = input.filter({ $0 >= n }).min(), (m - n) <= (Int(Int32.max) - delta) / (handled + 1) else { return nil }
            delta += (m - n) * (handled + 1)
            n = m
            for c in input {
                if c < n { delta += 1 }
                guard c == n else { continue }
                var q = delta
                var k = base
                while true {
                    let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta, points: handled + 1, first: handled == basic)
                delta = 0
                handled += 1
            }
            delta += 1
            n += 1
        }
        return String(output)
    }

    /// The label `encoded` is the Punycode of (without the `xn--` prefix), or nil when it is not Punycode.
    static func decode(_ encoded: String) -> String? {
        let scalars = Array(encoded.unicodeScalars)
        guard scalars.allSatisfy(\.isASCII) else { return nil }
        let delimiter = scalars.lastIndex(of: "-")
        var output = delimiter.map { Array(scalars[..<$0]).map { Int($0.value) } } ?? []
        var index = delimiter.map { $0 + 1 } ?? 0
        var n = initialN, i = 0, bias = initialBias
        while index < scalars.count {
            let oldI = i
            var w = 1, k = base
            while true {
                guard index < scalars.count, let d = value(of: scalars[index]), d <= (Int(Int32.max) - i) / w else { return nil }
                index += 1
                i += d * w
                let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if d < t { break }
                guard w <= Int(Int32.max) / (base - t) else { return nil }
                w *= base - t
                k += base
            }
            bias = adapt(i - oldI, points: output.count + 1, first: oldI == 0)
            guard i / (output.count + 1) <= Int(Int32.max) - n else { return nil }
            n += i / (output.count + 1)
            i %= output.count + 1
            guard n >= 0x80, Unicode.Scalar(UInt32(n)) != nil else { return nil }
            output.insert(n, at: i)
            i += 1
        }
        var text = String.UnicodeScalarView()
        for value in output {
            guard let scalar = Unicode.Scalar(UInt32(value)) else { return nil }
            text.append(scalar)
        }
        return String(text)
    }

    private static func value(of scalar: Unicode.Scalar) -> Int? {
        switch scalar {
        case "a"..."z": Int(scalar.value) - 97
        case "A"..."Z": Int(scalar.value) - 65
        case "0"..."9": Int(scalar.value) - 22
        default: nil
        }
    }

    private static func digit(_ d: Int) -> Character {
        Character(Unicode.Scalar(UInt8(d < 26 ? 97 + d : 22 + d)))
    }

    private static func adapt(_ delta: Int, points: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}

/// What a verified domain does for accounts whose verified email is in it (issue 16, point 2).
public enum DomainPolicy: String, Codable, Sendable, CaseIterable, Comparable {
    /// They see the organization on their home page (with a request button when its join policy takes requests).
    case suggest
    /// They may ask to join even when the organization's join policy is closed.
    case request
    /// They become active members with the domain's role, once their email is verified.
    case auto

    private var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: DomainPolicy, b: DomainPolicy) -> Bool { a.order < b.order }

    /// Whether accounts in the domain may ask to join whatever the organization's join policy.
    public var opensRequests: Bool { self >= .request }
}

/// An organization's verified domain matching the acting person's verified email, as the lifecycle decides on it.
public struct VerifiedDomainFacts: Sendable, Equatable {
    public var id: UUID
    public var domain: String
    public var policy: DomainPolicy
    /// The role of members who join automatically (`auto`).
    public var roleKey: String?

    public init(id: UUID, domain: String, policy: DomainPolicy, roleKey: String?) {
        self.id = id
        self.domain = domain
        self.policy = policy
        self.roleKey = roleKey
    }
}

/// The rules of verifying a domain by a DNS TXT record.
public enum DomainVerification {
    /// The TXT record's text proving control of the domain.
    public static func record(token: String) -> String { "roster-verification=\(token)" }

    /// How often a verified domain is checked again.
    public static let recheckInterval: TimeInterval = 86_400

    /// Domains an organization may hold at most.
    public static let maximumDomainsPerOrganization = 50

    /// What a DNS answer for the domain's TXT records says about `token`.
    public static func outcome(of answer: TXTAnswer, token: String) -> Outcome {
        switch answer {
        case .records(let texts):
            let expected = record(token: token)
            if texts.contains(where: { $0.trimmingCharacters(in: .whitespaces) == expected }) { return .verified }
            let ours = texts.filter { $0.hasPrefix("roster-verification=") }.count
            return .missing(ours > 0
                ? "The domain has a roster-verification record, but not this organization's (\(ours) other found)."
                : "No TXT record \(expected) was found (\(texts.count) other TXT record(s)).")
        case .noSuchDomain:
            return .missing("The domain does not exist in DNS.")
        case .unavailable(let reason):
            return .undetermined("DNS did not answer: \(reason).")
        }
    }

    /// Whether a domain holds its verification.
    public enum Outcome: Sendable, Equatable {
        case verified
        /// The record is not there (an authoritative answer): verification fails, or a verified domain is lost.
        case missing(String)
        /// DNS did not answer: nothing changes (a verified domain stays verified until DNS says the record is gone).
        case undetermined(String)
    }
}

/// A DNS answer for a name's TXT records.
public enum TXTAnswer: Sendable, Equatable {
    /// The TXT records (each one's strings joined), possibly none.
    case records([String])
    /// NXDOMAIN.
    case noSuchDomain
    /// No usable answer (timeout, SERVFAIL, refused, truncated).
    case unavailable(String)
}

/// Email domains anyone can get an address at: an organization cannot verify them (a shipped list).
public enum PublicEmailDomains {
    public static let all: Set<String> = [
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it",
        "live.com", "live.co.uk", "live.fr", "msn.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.co.jp",
        "yahoo.com.br", "ymail.com", "rocketmail.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com",
        "pm.me", "tutanota.com", "tuta.io", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "zoho.com", "yandex.com",
        "yandex.ru", "mail.ru", "qq.com", "163.com", "126.com", "sina.com", "naver.com", "daum.net", "hanmail.net", "fastmail.com",
        "hey.com", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "libero.it", "t-online.de", "comcast.net", "att.net",
        "verizon.net", "btinternet.com", "rediffmail.com", "example.com", "example.org", "example.net",
    ]

    /// Whether `domain` (canonical) is, or is under, a public email domain.
    public static func contains(_ domain: String) -> Bool {
        all.contains(domain) || all.contains { domain.hasSuffix("." + $0) }
    }
}

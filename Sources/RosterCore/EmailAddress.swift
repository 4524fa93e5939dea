import Foundation

/// A canonical email address: trimmed, lowercased, Unicode NFC, syntactically plausible.
///
/// Two spellings of one address (`" Ada@Example.COM "`, `"ada@example.com"`) have one canonical form,
/// which is what is stored and compared.
public struct EmailAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The canonical form.
    public let value: String

    /// Canonicalizes `raw`, or returns nil when it is not a plausible address.
    public init?(_ raw: String) {
        let canonical = EmailAddress.canonicalize(raw)
        guard EmailAddress.isPlausible(canonical) else { return nil }
        self.value = canonical
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let email = EmailAddress(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a valid email address"))
        }
        self = email
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    public var description: String { value }

    /// Trim, NFC-normalize, lowercase.
    public static func canonicalize(_ raw: String) -> String {
        switch canonicalizeASCII(raw) {
        case .unchanged: raw
        case .canonical(let canonical): canonical
        case .notASCII:
            raw.trimmingCharacters(in: .whitespacesAndNewlines)
                .precomposedStringWithCanonicalMapping
                .lowercased()
        }
    }

    private enum ASCIICanonical {
        case unchanged, canonical(String), notASCII
    }

    /// The fast path for ASCII (almost every address): trim and lowercase the bytes, copying only when that changes
    /// something.
    private static func canonicalizeASCII(_ raw: String) -> ASCIICanonical {
        var raw = raw
        return raw.withUTF8 { bytes in
            func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
            var hasUpper = false
            for byte in bytes {
                if byte >= 0x80 { return .notASCII }
                if (0x41...0x5A).contains(byte) { hasUpper = true }
            }
            var start = 0, end = bytes.count
            while end > start, isSpace(bytes[end - 1]) { end -= 1 }
            while start < end, isSpace(bytes[start]) { start += 1 }
            if !hasUpper && start == 0 && end == bytes.count { return .unchanged }
            return .canonical(String(decoding: bytes[start..<end].lazy.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self))
        }
    }

    /// One `@`, a non-empty local part, a domain with a dot and no empty labels, no spaces or control characters,
    /// at most 254 UTF-8 bytes.
    static func isPlausible(_ s: String) -> Bool {
        guard s.utf8.count <= 254 else { return false }
        if let ascii = isPlausibleASCII(s) { return ascii }
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let local = parts[0], domain = parts[1]
        guard !local.isEmpty, local.utf8.count <= 64, !domain.isEmpty else { return false }
        if s.unicodeScalars.contains(where: { $0.value < 0x80 ? ($0.value <= 0x20 || $0.value == 0x7F) : ($0.properties.isWhitespace || $0.properties.generalCategory == .control) }) {
            return false
        }
        if s.contains(where: { "<>(),;:\\\"[]".contains($0) }) { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") }) else {
            return false
        }
        return !local.hasPrefix(".") && !local.hasSuffix(".") && !local.contains("..")
    }

    /// `isPlausible` for an all-ASCII address, on bytes (where a byte is a character); nil when `s` is not ASCII.
    private static func isPlausibleASCII(_ s: String) -> Bool? {
        var s = s
        return s.withUTF8 { bytes -> Bool? in
            let at = UInt8(ascii: "@"), dot = UInt8(ascii: "."), hyphen = UInt8(ascii: "-")
            if bytes.contains(where: { $0 >= 0x80 }) { return nil }
            var atIndex: Int? = nil
            for (index, byte) in bytes.enumerated() {
                switch byte {
                case 0...0x20, 0x7F: return false
                case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ","), UInt8(ascii: ";"),
                     UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "]"):
                    return false
                case at:
                    if atIndex != nil { return false }
                    atIndex = index
                default: break
                }
            }
            guard let atIndex else { return false }
            let local = bytes[..<atIndex], domain = bytes[(atIndex + 1)...]
            guard !local.isEmpty, local.count <= 64, !domain.isEmpty else { return false }
            var labels = 0
            var labelStart = domain.startIndex
            for index in domain.startIndex...domain.endIndex where index == domain.endIndex || bytes[index] == dot {
                let label = bytes[labelStart..<index]
                guard let first = label.first, let last = label.last, first != hyphen, last != hyphen else { return false }
                labels += 1
                labelStart = index + 1
            }
            guard labels >= 2 else { return false }
            if local.first == dot || local.last == dot { return false }
            return !zip(local, local.dropFirst()).contains { $0 == dot && $1 == dot }
        }
    }
}

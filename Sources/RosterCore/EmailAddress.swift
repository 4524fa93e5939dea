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
        // Fast path for ASCII (almost every address): trim and lowercase the bytes.
        var utf8 = Array(raw.utf8)
        if utf8.allSatisfy({ $0 < 0x80 }) {
            while let last = utf8.last, last == 0x20 || (0x09...0x0D).contains(last) { utf8.removeLast() }
            var start = 0
            while start < utf8.count, utf8[start] == 0x20 || (0x09...0x0D).contains(utf8[start]) { start += 1 }
            return String(decoding: utf8[start...].map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
        }
        return raw.trimmingCharacters(in: .whitespacesAndNewlines)
            .precomposedStringWithCanonicalMapping
            .lowercased()
    }

    /// One `@`, a non-empty local part, a domain with a dot and no empty labels, no spaces or control characters,
    /// at most 254 UTF-8 bytes.
    static func isPlausible(_ s: String) -> Bool {
        guard s.utf8.count <= 254 else { return false }
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
}

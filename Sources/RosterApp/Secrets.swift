import RosterCore
import Vapor

/// Opaque secrets (session tokens, verification tokens, API keys) and their stored form.
enum Secret {
    /// 32 random bytes, base64url without padding.
    static func generate() -> String {
        var bytes = [UInt8](repeating: 0, count: 33)   // 32 random, then a zero for the last group of three
        bytes.withUnsafeMutableBytes { RandomBytes.fill(.init(rebasing: $0.prefix(32))) }
        // base64url (RFC 4648 §5) without padding: 32 bytes → 43 characters.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out = [UInt8]()
        out.reserveCapacity(44)
        for i in stride(from: 0, to: 33, by: 3) {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(n >> UInt32(shift) & 0x3F)]) }
        }
        return String(decoding: out.prefix(43), as: UTF8.self)
    }

    /// The stored form of a secret: lowercase hex SHA-256.
    static func hash(_ secret: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        var secret = secret
        for byte in secret.withUTF8({ SHA256.hash(data: $0) }) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The prefix of every platform API key.
    static let apiKeyPrefix = "rk_"
}

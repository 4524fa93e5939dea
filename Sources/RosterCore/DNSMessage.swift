import Foundation

/// The two DNS messages domain verification needs (RFC 1035): a TXT query, and the TXT records of its answer. Pure
/// bytes in and out; the UDP and TCP exchanges are the caller's.
public enum DNSMessage {
    /// A recursive TXT query for `name` with transaction `id`, advertising a 4,096-byte UDP payload (EDNS0, RFC 6891)
    /// so that answers with many TXT records are not truncated.
    public static func txtQuery(name: String, id: UInt16) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]
        for label in name.split(separator: ".") {
            let utf8 = Array(label.utf8.prefix(63))
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        bytes += [0, 0, 16, 0, 1]                       // root; QTYPE TXT, QCLASS IN
        bytes += [0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0] // OPT: root name, type 41, payload 4096, no flags, no data
        return bytes
    }

    /// The answer to the query with `id`: the TXT records (each one's strings joined), NXDOMAIN, or why there is
    /// no usable answer. Nil when the message is not an answer to that query (another id), to be ignored.
    public static func txtAnswer(_ message: [UInt8], id: UInt16) -> TXTAnswer? {
        var reader = Reader(bytes: message)
        guard let answerID = reader.uint16(), answerID == id, let flags = reader.uint16(), flags & 0x8000 != 0,
              let questions = reader.uint16(), let answers = reader.uint16(), reader.uint16() != nil, reader.uint16() != nil else { return nil }
        if flags & 0x0200 != 0 { return .unavailable("the answer was truncated") }
        switch flags & 0x000f {
        case 0: break
        case 2: return .unavailable("the DNS server failed to resolve it (SERVFAIL)")
        case 3: return .noSuchDomain
        case 5: return .unavailable("the DNS server refused to answer (REFUSED)")
        case let code: return .unavailable("the DNS server answered with error code \(code)")
        }
        for _ in 0..<questions {
            guard reader.skipName(), reader.skip(4) else { return .unavailable("a malformed answer") }
        }
        var records: [String] = []
        for _ in 0..<answers {
            guard reader.skipName(), let type = reader.uint16(), reader.skip(6), let length = reader.uint16(),
                  let slice = reader.take(Int(length)) else { return .unavailable("a malformed answer") }
            guard type == 16 else { continue }   // CNAMEs on the way are followed by the recursive server
            let data = Array(slice)
            var text: [UInt8] = [], index = 0
            while index < data.count {
                let count = Int(data[index])
                guard index + 1 + count <= data.count else { return .unavailable("a malformed TXT record") }
                text += data[(index + 1)..<(index + 1 + count)]
                index += 1 + count
            }
            records.append(String(decoding: text, as: UTF8.self))
        }
        return .records(records)
    }

    /// Whether `message` is an answer cut short for UDP (the TC flag): the whole answer comes over TCP (RFC 7766).
    public static func isTruncated(_ message: [UInt8]) -> Bool {
        message.count >= 4 && message[2] & 0x80 != 0 && message[2] & 0x02 != 0
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func uint16() -> UInt16? {
            guard index + 2 <= bytes.count else { return nil }
            defer { index += 2 }
            return UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
        }

        mutating func skip(_ count: Int) -> Bool {
            guard index + count <= bytes.count else { return false }
            index += count
            return true
        }

        mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard index + count <= bytes.count else { return nil }
            defer { index += count }
            return bytes[index..<(index + count)]
        }

        /// Skips a name: labels up to the root, or up to a compression pointer.
        mutating func skipName() -> Bool {
            while index < bytes.count {
                let length = bytes[index]
                if length == 0 { index += 1; return true }
                if length & 0xc0 == 0xc0 { return skip(2) }
                guard skip(1 + Int(length)) else { return false }
            }
            return false
        }
    }
}

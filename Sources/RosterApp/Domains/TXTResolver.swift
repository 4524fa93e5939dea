import Foundation
import NIOCore
import NIOPosix
import RosterCore

/// Looks up a name's TXT records (domain verification). Tests put their own in `RosterServices.txtResolver`.
protocol TXTResolver: Sendable {
    func txtRecords(of name: String) async -> TXTAnswer
}

/// TXT lookups over UDP (over TCP when the answer does not fit) against one recursive DNS server: `ROSTER_DNS_SERVER` (`HOST` or `HOST:PORT`), else the
/// first `nameserver` of `/etc/resolv.conf`. Two tries of three seconds each. No library in our mirror does DNS
/// (docs/decisions.md); the messages are `DNSMessage`'s.
struct UDPTXTResolver: TXTResolver {
    let host: String
    let port: Int
    var timeout: TimeAmount = .seconds(3)

    /// The resolver `ROSTER_DNS_SERVER` names, or the system's.
    init(server: String?) {
        if let server, !server.isEmpty {
            (host, port) = Self.split(server)
        } else {
            (host, port) = (Self.systemNameserver() ?? "127.0.0.1", 53)
        }
    }

    /// `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address.
    static func split(_ server: String) -> (String, Int) {
        if server.hasPrefix("["), let close = server.firstIndex(of: "]") {
            let host = String(server[server.index(after: server.startIndex)..<close])
            let rest = server[server.index(after: close)...]
            return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()) ?? 53 : 53)
        }
        let parts = server.split(separator: ":")
        if parts.count == 2, let port = Int(parts[1]) { return (String(parts[0]), port) }
        return (server, 53)
    }

    static func systemNameserver() -> String? {
        guard let text = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: \.isWhitespace)
            if words.count >= 2, words[0] == "nameserver" { return String(words[1]) }
        }
        return nil
    }

    func txtRecords(of name: String) async -> TXTAnswer {
        var last = TXTAnswer.unavailable("no answer")
        for _ in 0..<2 {
            last = await exchange(name)
            if case .unavailable = last { continue }
            return last
        }
        return last
    }

    private func exchange(_ name: String) async -> TXTAnswer {
        let id = UInt16.random(in: .min ... .max)
        let query = DNSMessage.txtQuery(name: name, id: id)
        let (host, port, timeout) = (self.host, self.port, self.timeout)
        do {
            let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            return try await withThrowingTaskGroup(of: TXTAnswer.self) { group in
                group.addTask {
                    var message = try await Self.udp(query, to: address, id: id)
                    // An answer too large for UDP comes whole over TCP (RFC 7766).
                    if DNSMessage.isTruncated(message) { message = try await Self.tcp(query, to: address) }
                    return DNSMessage.txtAnswer(message, id: id) ?? .unavailable("an answer to another question")
                }
                group.addTask {
                    try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                    return .unavailable("no answer from \(host):\(port) in \(timeout.nanoseconds / 1_000_000_000) s")
                }
                let first = try await group.next() ?? .unavailable("no answer")
                group.cancelAll()
                return first
            }
        } catch {
            return .unavailable("\(host):\(port): \(error)")
        }
    }

    /// The first datagram from `address` answering the query `id` (others are ignored). Datagrams are read whole,
    /// up to UDP's limit (NIO's default buffer of 2,048 bytes would cut an answer of the 4,096 the query allows).
    private static func udp(_ query: [UInt8], to address: SocketAddress, id: UInt16) async throws -> [UInt8] {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_535))
            .bind(host: address.protocol == .inet6 ? "::" : "0.0.0.0", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: query)))
            for try await envelope in inbound where envelope.remoteAddress == address {
                let message = Array(envelope.data.readableBytesView)
                if DNSMessage.txtAnswer(message, id: id) != nil { return message }
            }
            throw DNSExchangeError("the DNS server closed")
        }
    }

    /// The answer to `query` over TCP: each message preceded by its length in two bytes.
    private static func tcp(_ query: [UInt8], to address: SocketAddress) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(to: address) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: [UInt8(query.count >> 8), UInt8(query.count & 0xff)] + query))
            var received: [UInt8] = []
            for try await chunk in inbound {
                received += chunk.readableBytesView
                if received.count >= 2, case let length = Int(received[0]) << 8 | Int(received[1]), received.count >= 2 + length {
                    return Array(received[2..<(2 + length)])
                }
            }
            throw DNSExchangeError("the DNS server closed the TCP connection before answering")
        }
    }
}

/// Why a DNS exchange got no answer (the text goes into the domain's check result).
struct DNSExchangeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

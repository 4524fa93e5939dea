import Foundation
import NIOCore
import NIOPosix
import RosterCore

/// Looks up a name's TXT records (domain verification). Tests put their own in `RosterServices.txtResolver`.
protocol TXTResolver: Sendable {
    func txtRecords(of name: String) async -> TXTAnswer
}

/// TXT lookups over UDP against one recursive DNS server: `ROSTER_DNS_SERVER` (`HOST` or `HOST:PORT`), else the
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
        do {
            let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: address.protocol == .inet6 ? "::" : "0.0.0.0", port: 0) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
                    }
                }
            let timeout = self.timeout
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: DNSMessage.txtQuery(name: name, id: id))))
                return try await withThrowingTaskGroup(of: TXTAnswer.self) { group in
                    group.addTask {
                        for try await envelope in inbound where envelope.remoteAddress == address {
                            if let answer = DNSMessage.txtAnswer(Array(envelope.data.readableBytesView), id: id) { return answer }
                        }
                        return .unavailable("the DNS server closed")
                    }
                    group.addTask {
                        try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                        return .unavailable("no answer from \(host):\(port) in \(timeout.nanoseconds / 1_000_000_000) s")
                    }
                    let first = try await group.next() ?? .unavailable("no answer")
                    group.cancelAll()
                    return first
                }
            }
        } catch {
            return .unavailable("\(host):\(port): \(error)")
        }
    }
}

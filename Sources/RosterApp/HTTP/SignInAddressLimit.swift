import Vapor
import NIOConcurrencyHelpers
import RosterCore

/// Failed sign-ins per client address, whatever the emails tried (issue 13, point 2): the per-email throttle stops
/// guessing at one account, this stops one address trying many. An IPv6 client counts by its /64 (one host holds a
/// whole one). Kept in memory, per server instance, bounded.
final class SignInAddressLimit: Sendable {
    let throttle: SignInThrottle
    private let records = NIOLockedValueBox<[String: SignInThrottle.Record]>([:])
    /// Addresses remembered at most. When full, those whose window ended are forgotten; if more than half are still in
    /// theirs, all are (the per-email limit still guards every account), so memory and the time under the lock stay
    /// bounded.
    static let capacity = 50_000

    init(failuresPerWindow: Int) {
        throttle = SignInThrottle(maximumFailures: failuresPerWindow)
    }

    /// Counts an attempt from `address` as a failure before its password is checked; the seconds to wait when the
    /// address is over its allowance.
    func reserve(_ address: String, now: Date) -> Int? {
        let throttle = self.throttle, address = Self.key(address)
        return records.withLockedValue { records in
            if records.count >= Self.capacity {
                records = records.filter { now.timeIntervalSince($0.value.windowStart) < throttle.window }
                if records.count >= Self.capacity / 2 { records.removeAll(keepingCapacity: true) }
            }
            let record = throttle.recordingFailure(records[address], now: now)
            records[address] = record
            return throttle.retryAfter(reserved: record, now: now)
        }
    }

    /// Gives back the attempt of a sign-in that succeeded.
    func release(_ address: String) {
        let address = Self.key(address)
        records.withLockedValue { records in
            guard var record = records[address], record.failures > 0 else { return }
            record.failures -= 1
            records[address] = record
        }
    }
}

extension SignInAddressLimit {
    /// What an address counts under: itself, or an IPv6 address's /64 (canonical addresses have eight groups).
    static func key(_ address: String) -> String {
        let groups = address.split(separator: ":")
        return groups.count == 8 ? groups.prefix(4).joined(separator: ":") + "::/64" : address
    }

    /// How many addresses are remembered (tests).
    var remembered: Int { records.withLockedValue { $0.count } }
}

extension Request {
    /// The client's address (`ClientAddress.resolve`, believing only `ROSTER_TRUSTED_PROXY`), when known.
    var clientAddress: String? {
        ClientAddress.resolve(peer: remoteAddress?.ipAddress, forwardedFor: headers[.xForwardedFor],
                              trustedProxies: application.roster.configuration.trustedProxies)
    }
}

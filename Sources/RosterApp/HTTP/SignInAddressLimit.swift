import Vapor
import NIOConcurrencyHelpers
import RosterCore

/// Failed sign-ins per client address, whatever the emails tried (issue 13, point 2): the per-email throttle stops
/// guessing at one account, this stops one address trying many. Kept in memory, per server instance.
final class SignInAddressLimit: Sendable {
    let throttle: SignInThrottle
    private let records = NIOLockedValueBox<[String: SignInThrottle.Record]>([:])
    /// Addresses remembered at most; past it, those whose window ended are forgotten.
    static let capacity = 100_000

    init(failuresPerWindow: Int) {
        throttle = SignInThrottle(maximumFailures: failuresPerWindow)
    }

    /// Counts an attempt from `address` as a failure before its password is checked; the seconds to wait when the
    /// address is over its allowance.
    func reserve(_ address: String, now: Date) -> Int? {
        let throttle = self.throttle
        return records.withLockedValue { records in
            if records.count >= Self.capacity {
                records = records.filter { now.timeIntervalSince($0.value.windowStart) < throttle.window }
            }
            let record = throttle.recordingFailure(records[address], now: now)
            records[address] = record
            return throttle.retryAfter(reserved: record, now: now)
        }
    }

    /// Gives back the attempt of a sign-in that succeeded.
    func release(_ address: String) {
        records.withLockedValue { records in
            guard var record = records[address], record.failures > 0 else { return }
            record.failures -= 1
            records[address] = record
        }
    }
}

extension Request {
    /// The client's address (`ClientAddress.resolve`, believing only `ROSTER_TRUSTED_PROXY`), when known.
    var clientAddress: String? {
        ClientAddress.resolve(peer: remoteAddress?.ipAddress, forwardedFor: headers[.xForwardedFor],
                              trustedProxies: application.roster.configuration.trustedProxies)
    }
}

import Foundation
import Synchronization

/// UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter, then random bits.
/// Ids made by one process sort in the order they were made, which makes them a keyset for append-only logs.
public enum TimeOrderedID {
    /// The last id's time and counter, and random bytes for the next ids (fetched 256 at a time: an import makes
    /// hundreds of thousands of ids, and a system call per id cost more than the rest of making it).
    private struct State {
        var millis: UInt64 = 0
        var counter: UInt16 = 0
        var random = [UInt8](repeating: 0, count: 256)
        var used = 256
    }

    private static let state = Mutex(State())

    /// A new time-ordered UUID.
    public static func make(now: Date = Date()) -> UUID {
        let wall = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (millis, counter, tail) = state.withLock { state -> (UInt64, UInt16, UInt64) in
            if wall > state.millis {
                (state.millis, state.counter) = (wall, 0)
            } else if state.counter < 0x0FFF {
                state.counter += 1
            } else {
                (state.millis, state.counter) = (state.millis + 1, 0)
            }
            if state.used == state.random.count {
                state.random.withUnsafeMutableBytes { RandomBytes.fill($0) }
                state.used = 0
            }
            let tail = state.random.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: state.used, as: UInt64.self) }
            state.used += 8
            return (state.millis, state.counter, tail)
        }
        func byte(_ value: UInt64, _ shift: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: value >> shift) }
        return UUID(uuid: (byte(millis, 40), byte(millis, 32), byte(millis, 24), byte(millis, 16), byte(millis, 8), byte(millis, 0),
                           0x70 | UInt8(counter >> 8), UInt8(truncatingIfNeeded: counter),
                           0x80 | (byte(tail, 0) & 0x3F), byte(tail, 8), byte(tail, 16), byte(tail, 24),
                           byte(tail, 32), byte(tail, 40), byte(tail, 48), byte(tail, 56)))
    }
}

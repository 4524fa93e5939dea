import Foundation
import Synchronization

/// A process-wide counter that moves whenever committed data may have changed, so caches can tell
/// whether an entry was read before the latest change.
///
/// Every `writeTransaction` advances it before it commits and again after, so an entry cached while
/// a change was in flight is invalid once the change has committed. On PostgreSQL, other instances
/// advance theirs when they receive the `roster_changes` notification sent by the committing transaction.
public final class ChangeGeneration: Sendable {
    /// The process-wide instance.
    public static let shared = ChangeGeneration()

    private let value = Atomic<UInt64>(0)
    private let keysValue = Atomic<UInt64>(0)

    public init() {}

    /// The current generation.
    public var current: UInt64 { value.load(ordering: .acquiring) }

    /// The generation of API keys: it moves with changes that say they create or revoke keys
    /// (`writeTransaction(changingAPIKeys:)`), not with every write, so a key's answer stays cached while rosters
    /// change around it.
    public var apiKeys: UInt64 { keysValue.load(ordering: .acquiring) }

    /// Marks a change (of API keys too, when `includingAPIKeys`).
    public func advance(includingAPIKeys: Bool = false) {
        if includingAPIKeys { keysValue.add(1, ordering: .releasing) }
        value.add(1, ordering: .releasing)
    }

    /// The payload of the `roster_changes` notification of a transaction that changed API keys.
    public static let apiKeysPayload = "api_keys"
}

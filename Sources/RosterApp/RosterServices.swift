import Vapor
import RosterCore
import RosterStore

/// What the app holds besides Vapor's own services: configuration, mail transport and sign-in policy.
public struct RosterServices: Sendable {
    /// The environment-derived configuration.
    public var configuration: RosterConfiguration
    /// Where emails go.
    public var mailer: any Mailer
    /// Failed sign-in throttling policy.
    public var signInThrottle: SignInThrottle
    /// Failed sign-ins per client address (nil: off).
    let signInAddressLimit: SignInAddressLimit?
    /// Per-organization and per-account limits.
    public var limits: RosterLimits
    /// Cached (account, organization) → role answers for `POST /v1/authorize`.
    let access: AccessCache
    /// A bcrypt hash of nothing in particular, verified against when an email has no account.
    var dummyPasswordHash: String
    /// A bcrypt hash of a random secret drawn at start: the password of accounts created by provisioning, which
    /// nobody can sign in with until they choose one by a reset link.
    var unusablePasswordHash: String
    /// The threads bcrypt runs on.
    let passwordPool: PasswordPool
    /// The outbox figures `/metrics` shows, read at most every few seconds.
    let backlogCache = BacklogCache()
    /// Where domain verification looks up TXT records (`ROSTER_DNS_SERVER`, or the system's resolver).
    var txtResolver: any TXTResolver
}

/// Limits that protect recipients and reviewers.
/// Invitation, join-request and reviewer limits: the lifecycle's own (`LifecycleLimits`), set by configuration.
public typealias RosterLimits = LifecycleLimits

extension Application {
    private struct RosterServicesKey: StorageKey { typealias Value = RosterServices }

    /// Roster's services; set by `configure`.
    public var roster: RosterServices {
        get {
            guard let services = storage[RosterServicesKey.self] else { fatalError("configure(_:) has not run") }
            return services
        }
        set { storage[RosterServicesKey.self] = newValue }
    }
}

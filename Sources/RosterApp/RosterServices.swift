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
    /// A bcrypt hash of nothing in particular, verified against when an email has no account.
    var dummyPasswordHash: String

    /// Writes the verification email for `account` with the link built from the base URL.
    func sendVerification(to account: AccountModel, token: String) async throws {
        let link = "\(configuration.baseURL)/verify-email?token=\(token)"
        try await mailer.send(EmailTemplates.verification(to: account.email, name: account.name, link: link, token: token))
    }
}

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

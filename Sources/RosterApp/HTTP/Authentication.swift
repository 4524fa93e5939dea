import Vapor
import RosterCore
import RosterStore

/// Who is calling: a signed-in person (by session), a platform integration (by platform API key), or an
/// organization's integration (by organization API key: `organization` names what it may do).
enum Principal: Sendable {
    case account(AccountModel, sessionID: UUID)
    case apiKey(id: UUID, name: String, organization: OrganizationKeyScope? = nil)

    /// Whether the caller is a platform API key (acts on every organization).
    var isPlatformKey: Bool {
        if case .apiKey(_, _, nil) = self { return true }
        return false
    }

    /// The organization key's reach, when the caller is one.
    var organizationKey: OrganizationKeyScope? {
        if case .apiKey(_, _, let scope?) = self { return scope }
        return nil
    }
}

/// What an organization API key may do: its organization, its permissions, and the spaces it is limited to.
struct OrganizationKeyScope: Sendable, Equatable {
    var orgID: UUID
    var permissions: Set<Permission>
    /// nil: the whole organization.
    var spaceIDs: Set<UUID>?
}

extension Request {
    private struct PrincipalKey: StorageKey { typealias Value = Principal }

    /// The authenticated caller, set by `BearerAuthenticator`.
    var principal: Principal? {
        get { storage[PrincipalKey.self] }
        set { storage[PrincipalKey.self] = newValue }
    }

    /// The calling account, or 401 `unauthenticated`. API keys have no account.
    func requireAccount() throws -> (account: AccountModel, sessionID: UUID) {
        guard case .account(let account, let sessionID)? = principal else {
            throw RosterError(.unauthenticated, "Sign in: this endpoint acts for a person and needs a session token.")
        }
        return (account, sessionID)
    }
}

/// Resolves `Authorization: Bearer …` into a `Principal`; refuses missing or invalid credentials with 401.
///
/// A cached API key is resolved without suspending (the authorize hot path); everything else reads the database.
struct BearerAuthenticator: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        guard let bearer = request.headers.bearerAuthorization?.token, !bearer.isEmpty else {
            return request.eventLoop.makeFailedFuture(
                RosterError(.unauthenticated, "Send a session token or API key as 'Authorization: Bearer …'."))
        }
        let hash = Secret.hash(bearer)
        if bearer.hasPrefix(Secret.apiKeyPrefix), let cached = request.application.roster.access.cachedAPIKey(hash: hash) {
            guard let principal = cached else {
                return request.eventLoop.makeFailedFuture(RosterError(.unauthenticated, "The API key is unknown or revoked."))
            }
            request.principal = principal
            return next.respond(to: request)
        }
        return request.eventLoop.makeFutureWithTask {
            try await Self.authenticate(request, bearer: bearer, hash: hash)
        }.flatMap { next.respond(to: request) }
    }

    private static func authenticate(_ request: Request, bearer: String, hash: String) async throws {
        let store = AccountStore(request.db)
        if bearer.hasPrefix(Secret.apiKeyPrefix) {
            guard let principal = try await request.application.roster.access.apiKey(hash: hash, on: request.db) else {
                throw RosterError(.unauthenticated, "The API key is unknown or revoked.")
            }
            request.principal = principal
        } else {
            guard let (session, account) = try await store.session(tokenHash: hash, now: Date()), let id = session.id else {
                throw RosterError(.unauthenticated, "The session token is unknown, expired or signed out.")
            }
            request.principal = .account(account, sessionID: id)
        }
    }
}

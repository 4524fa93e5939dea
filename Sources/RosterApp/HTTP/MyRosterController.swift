import Vapor
import Fluent
import RosterCore
import RosterStore

/// `/v1/me/memberships`, `/v1/me/invitations`, `/v1/me/join-requests` and `POST /v1/authorize`.
struct MyRosterController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let v1 = routes.grouped("v1").grouped(BearerAuthenticator())
        v1.get("me", "memberships", use: memberships)
        v1.get("me", "invitations", use: invitations)
        v1.get("me", "join-requests", use: joinRequests)
    }

    /// A row of "my" lists: the membership plus the organization it belongs to.
    struct MyMembership: Content {
        var membership: MembershipResponse
        var organization: OrganizationSummary
    }

    struct OrganizationSummary: Content {
        var id: UUID
        var name: String
        var slug: String
    }

    struct PageQuery: Content {
        var status: String?
        var cursor: String?
        var limit: Int?
    }

    /// One keyset page (by membership id) of the caller's rows of `kind` in organizations that still exist.
    private func rows(_ req: Request, _ kind: PersonalRoster.Kind) async throws -> Page<MyMembership> {
        let query = try req.query.decode(PageQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw).id }
        let (rows, next) = try await PersonalRoster(req.db).page(kind, after: cursor, limit: limit)
        let items = rows.map { row, org in
            MyMembership(membership: MembershipResponse(row), organization: OrganizationSummary(id: row.orgID, name: org.name, slug: org.slug))
        }
        return Page(items: items, nextCursor: next.map { PageCursor(key: "", id: $0).encoded })
    }

    @Sendable func memberships(req: Request) async throws -> Page<MyMembership> {
        let (account, _) = try req.requireAccount()
        return try await rows(req, .memberships(accountID: try account.requireID()))
    }

    /// Pending invitations addressed to my email, once it is verified (before that, the address is not proven mine).
    @Sendable func invitations(req: Request) async throws -> Page<MyMembership> {
        let (account, _) = try req.requireAccount()
        guard account.emailVerifiedAt != nil else { return Page(items: [], nextCursor: nil) }
        try await PersonalRoster(req.db).expireDueInvitations(to: account.email, now: Date())
        return try await rows(req, .invitations(email: account.email))
    }

    @Sendable func joinRequests(req: Request) async throws -> Page<MyMembership> {
        let (account, _) = try req.requireAccount()
        let raw = try req.query.decode(PageQuery.self).status
        let status = try raw.map { value throws(RosterError) -> MembershipStatus in
            guard let status = MembershipStatus(rawValue: value) else {
                throw RosterError.validation([FieldIssue(field: "status", message: "is not a membership status")])
            }
            return status
        }
        return try await rows(req, .joinRequests(accountID: try account.requireID(), status: status))
    }
}

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

    /// One keyset page (by membership id) of the caller's rows in organizations that still exist.
    private func rows(_ req: Request, _ build: (QueryBuilder<MembershipModel>, AccountModel) throws -> QueryBuilder<MembershipModel>) async throws -> Page<MyMembership> {
        let (account, _) = try req.requireAccount()
        let query = try req.query.decode(PageQuery.self)
        let limit = try PageCursor.limit(query.limit)
        var builder = try build(MembershipModel.query(on: req.db), account)
            .join(OrganizationModel.self, on: \MembershipModel.$orgID == \OrganizationModel.$id)
            .filter(OrganizationModel.self, \.$deletedAt == nil)
        if let raw = query.cursor { builder = builder.filter(\.$id > (try PageCursor.decode(raw)).id) }
        let rows = try await builder.sort(\.$id).limit(limit + 1).all()
        let items = try rows.prefix(limit).map { row in
            let org = try row.joined(OrganizationModel.self)
            return MyMembership(membership: MembershipResponse(row), organization: OrganizationSummary(id: row.orgID, name: org.name, slug: org.slug))
        }
        let next = rows.count > limit ? rows[limit - 1].id.map { PageCursor(key: "", id: $0).encoded } : nil
        return Page(items: items, nextCursor: next)
    }

    @Sendable func memberships(req: Request) async throws -> Page<MyMembership> {
        try await rows(req) { query, account in
            query.filter(\.$accountID == (try account.requireID())).filter(\.$status == MembershipStatus.active.rawValue)
        }
    }

    /// Pending invitations addressed to my email, once it is verified (before that, the address is not proven mine).
    @Sendable func invitations(req: Request) async throws -> Page<MyMembership> {
        let (account, _) = try req.requireAccount()
        guard account.emailVerifiedAt != nil else { return Page(items: [], nextCursor: nil) }
        let now = Date()
        let due = try await MembershipModel.query(on: req.db).filter(\.$email == account.email)
            .filter(\.$status == MembershipStatus.pending.rawValue).filter(\.$expiresAt <= now).all()
        for scopeID in Set(due.map(\.scopeID)) {
            try await MembershipStore(req.db).expireInvitationsIfDue(scopeID: scopeID, now: now)
        }
        return try await rows(req) { query, account in
            query.filter(\.$email == account.email)
                .filter(\.$status == MembershipStatus.pending.rawValue)
                .filter(\.$source == MembershipSource.invitation.rawValue)
        }
    }

    @Sendable func joinRequests(req: Request) async throws -> Page<MyMembership> {
        let raw = try req.query.decode(PageQuery.self).status
        let status = try raw.map { value throws(RosterError) -> MembershipStatus in
            guard let status = MembershipStatus(rawValue: value) else {
                throw RosterError.validation([FieldIssue(field: "status", message: "is not a membership status")])
            }
            return status
        }
        return try await rows(req) { query, account in
            var query = query.filter(\.$accountID == (try account.requireID())).filter(\.$source == MembershipSource.joinRequest.rawValue)
            if let status { query = query.filter(\.$status == status.rawValue) }
            return query
        }
    }
}

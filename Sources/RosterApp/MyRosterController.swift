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

    private func rows(_ req: Request, _ build: (QueryBuilder<MembershipModel>, AccountModel) throws -> QueryBuilder<MembershipModel>) async throws -> [MyMembership] {
        let (account, _) = try req.requireAccount()
        let rows = try await build(MembershipModel.query(on: req.db), account).sort(\.$createdAt, .descending).limit(500).all()
        let orgs = try await OrganizationModel.query(on: req.db).filter(\.$id ~~ Set(rows.map(\.orgID))).filter(\.$deletedAt == nil).all()
        let byID = Dictionary(uniqueKeysWithValues: orgs.compactMap { org in org.id.map { ($0, org) } })
        return rows.compactMap { row in
            byID[row.orgID].map { MyMembership(membership: MembershipResponse(row), organization: OrganizationSummary(id: row.orgID, name: $0.name, slug: $0.slug)) }
        }
    }

    @Sendable func memberships(req: Request) async throws -> [MyMembership] {
        try await rows(req) { query, account in
            query.filter(\.$accountID == (try account.requireID())).filter(\.$status == MembershipStatus.active.rawValue)
        }
    }

    /// Pending invitations addressed to my email, once it is verified (before that, the address is not proven mine).
    @Sendable func invitations(req: Request) async throws -> [MyMembership] {
        let (account, _) = try req.requireAccount()
        guard account.emailVerifiedAt != nil else { return [] }
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

    struct StatusQuery: Content { var status: String? }

    @Sendable func joinRequests(req: Request) async throws -> [MyMembership] {
        let raw = try req.query.decode(StatusQuery.self).status
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

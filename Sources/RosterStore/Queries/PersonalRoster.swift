import Fluent
import Foundation
import RosterCore

/// A person's own rows across organizations (`/v1/me/…` and the home page), and an invitation as its link shows it.
public struct PersonalRoster: Sendable {
    public let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Which of a person's rows.
    public enum Kind: Sendable {
        /// Active memberships of the account.
        case memberships(accountID: UUID)
        /// Pending invitations addressed to the (verified) email.
        case invitations(email: String)
        /// Join requests of the account, optionally of one status.
        case joinRequests(accountID: UUID, status: MembershipStatus?)
    }

    /// One keyset page (by membership id) of the rows of `kind` in organizations that still exist, with their
    /// organization.
    public func page(_ kind: Kind, after cursor: UUID?, limit: Int) async throws -> (items: [(MembershipModel, OrganizationModel)], next: UUID?) {
        var query = MembershipModel.query(on: db)
        switch kind {
        case .memberships(let accountID):
            query = query.filter(\.$accountID == accountID).filter(\.$status == MembershipStatus.active.rawValue)
        case .invitations(let email):
            query = query.filter(\.$email == email).filter(\.$status == MembershipStatus.pending.rawValue)
                .filter(\.$source == MembershipSource.invitation.rawValue)
        case .joinRequests(let accountID, let status):
            query = query.filter(\.$accountID == accountID).filter(\.$source == MembershipSource.joinRequest.rawValue)
            if let status { query = query.filter(\.$status == status.rawValue) }
        }
        query = query.join(OrganizationModel.self, on: \MembershipModel.$orgID == \OrganizationModel.$id)
            .filter(OrganizationModel.self, \.$deletedAt == nil)
        if let cursor { query = query.filter(\.$id > cursor) }
        let rows = try await query.sort(\.$id).limit(limit + 1).all()
        let items = try rows.prefix(limit).map { ($0, try $0.joined(OrganizationModel.self)) }
        return (items, rows.count > limit ? rows[limit - 1].id : nil)
    }

    /// Expires the invitations to `email` whose time is up (each scope under its organization's lock), so the
    /// invitee's list shows only open ones.
    public func expireDueInvitations(to email: String, now: Date) async throws {
        let due = try await MembershipModel.query(on: db).filter(\.$email == email)
            .filter(\.$status == MembershipStatus.pending.rawValue).filter(\.$expiresAt <= now).all()
        for scopeID in Set(due.map(\.scopeID)) {
            try await MembershipStore(db).expireInvitationsIfDue(scopeID: scopeID, now: now)
        }
    }

    /// What an invitation link shows: the pending invitation with this token hash, in an organization that exists.
    public struct InvitationView: Sendable {
        public var row: MembershipModel
        public var organization: OrganizationModel
        public var space: SpaceModel?
        public var roleName: String
        public var inviterName: String?
    }

    /// The pending invitation the token with `tokenHash` opens, if any (expired first when its time is up).
    public func invitation(tokenHash: String, now: Date) async throws -> InvitationView? {
        try await MembershipStore(db).expireDueInvitation(tokenHash: tokenHash, now: now)
        guard let row = try await MembershipModel.query(on: db).filter(\.$tokenHash == tokenHash)
                .filter(\.$source == MembershipSource.invitation.rawValue)
                .filter(\.$status == MembershipStatus.pending.rawValue).first(),
              let org = try await OrganizationModel.query(on: db).filter(\.$id == row.orgID).filter(\.$deletedAt == nil).first()
        else { return nil }
        let ladder = try await MembershipStore(db).ladder(orgID: row.orgID, row.spaceID == nil ? .org : .space)
        var inviter: AccountModel?
        if let inviterID = row.invitedBy { inviter = try await AccountModel.find(inviterID, on: db) }
        var space: SpaceModel?
        if let spaceID = row.spaceID { space = try await SpaceModel.find(spaceID, on: db) }
        return InvitationView(row: row, organization: org, space: space, roleName: ladder.role(row.roleKey)?.name ?? row.roleKey,
                              inviterName: inviter?.name)
    }

    /// The membership row an emailed token names, in any scope.
    public func invitation(tokenHash: String) async throws -> MembershipModel? {
        try await MembershipModel.query(on: db).filter(\.$tokenHash == tokenHash).first()
    }

    /// A row by id in any scope (the person's own rows, checked by the caller).
    public func row(id: UUID) async throws -> MembershipModel? {
        try await MembershipModel.find(id, on: db)
    }
}

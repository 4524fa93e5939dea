import Vapor
import Fluent
import RosterCore
import RosterStore

/// Deleting an account ends every live row it holds (DESIGN §2, "account deleted"), in one transaction:
/// pending invitations to its email are revoked, its pending join requests withdrawn, its active rows removed.
/// The sole owner of an organization with other active members is refused (409 `last_owner`);
/// an organization whose only active member it was is deleted.
enum AccountDeletion {
    static func delete(_ account: AccountModel, requestID: String, on database: any Database) async throws {
        let accountID = try account.requireID()
        let email = account.email
        // Invitations to the address are the account's only once it proved the address is its own.
        let ownsEmail = account.emailVerifiedAt != nil
        let now = Date()
        try await database.writeTransaction { db in
            let store = MembershipStore(db)
            @Sendable func liveRows() async throws -> [MembershipModel] {
                try await MembershipModel.query(on: db)
                    .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue))
                    .group(.or) { group in
                        group.filter(\.$accountID == accountID)
                        if ownsEmail {
                            group.group(.and) {
                                $0.filter(\.$email == email).filter(\.$source == MembershipSource.invitation.rawValue)
                                    .filter(\.$status == MembershipStatus.pending.rawValue)
                            }
                        }
                    }
                    .all()
            }
            // Lock every organization involved (in a fixed order), then read the rows again under the locks.
            let orgIDs = Set(try await liveRows().map(\.orgID)).sorted { $0.uuidString < $1.uuidString }
            var liveOrgs = Set<UUID>()
            for orgID in orgIDs where (try? await store.lockOrganization(orgID)) != nil { liveOrgs.insert(orgID) }
            let rows = try await liveRows()
            var emptied: [UUID] = []
            for row in rows where row.spaceID == nil && row.status == MembershipStatus.active.rawValue && liveOrgs.contains(row.orgID) {
                let counts = try await store.activeCounts(orgID: row.orgID)
                let isOwner = row.roleKey == DefaultRoles.ownerKey
                try Lifecycle.checkLastOwner(activeOwnersAfter: counts.owners - (isOwner ? 1 : 0), activeMembersAfter: counts.members - 1)
                if counts.members == 1 { emptied.append(row.orgID) }
            }
            for row in rows {
                guard let id = row.id else { continue }
                let facts = row.facts
                let (target, event): (MembershipStatus, MembershipEvent) = switch (facts.status, facts.source) {
                case (.pending, .invitation): (.revoked, .revoked)
                case (.pending, _): (.withdrawn, .withdrawn)
                default: (.removed, .removed)
                }
                if let ended = try await store.transition(id: id, from: [facts.status], source: facts.source, to: target, now: now) {
                    try await AuditLog(db).record(event, actor: .account(accountID), membership: ended, before: row.auditState,
                                                  after: ended.auditState, requestID: requestID, at: now)
                }
            }
            for orgID in emptied {
                try await OrganizationLifecycle.softDelete(orgID: orgID, actor: .account(accountID), requestID: requestID, now: now, on: db)
            }
            try await account.delete(on: db)
        }
    }
}

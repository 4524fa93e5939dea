import Fluent
import Foundation
import RosterCore
import SQLKit

/// Before the one-lifecycle change, deleting an organization or a space revoked its pending rows but left active
/// ones `active` under the deleted scope. This ends every such live row as the lifecycle ends it today
/// (`Lifecycle.ending(of:)`: active → removed, pending invitation → revoked, pending join request → withdrawn),
/// with one audit event each by the system. Runs once; a database without such rows is unchanged.
struct EndRowsOfDeletedScopes: AsyncMigration {
    var name: String { "2026-12-06-018-end-rows-of-deleted-scopes" }

    func prepare(on database: any Database) async throws {
        try await database.writeTransaction { db in
            let live = MembershipStatus.live.map(\.rawValue)
            let deletedOrgs = try await OrganizationModel.query(on: db).filter(\.$deletedAt != nil).all(\.$id)
            let deletedSpaces = try await SpaceModel.query(on: db).filter(\.$deletedAt != nil).all(\.$id)
            guard !deletedOrgs.isEmpty || !deletedSpaces.isEmpty else { return }
            let rows = try await MembershipModel.query(on: db)
                .filter(\.$status ~~ live)
                .group(.or) { group in
                    if !deletedOrgs.isEmpty { group.filter(\.$orgID ~~ deletedOrgs) }
                    if !deletedSpaces.isEmpty { group.filter(\.$scopeID ~~ deletedSpaces) }
                }
                .all()
            var plan = MembershipPlan()
            for row in rows.map(\.facts) {
                guard let ending = Lifecycle.ending(of: row) else { continue }
                plan.transition(row, to: ending.status, event: ending.event, actor: .system)
            }
            try await MembershipStore(db).apply(plan, now: Date(), requestID: nil)
        }
    }

    func revert(on database: any Database) async throws {}
}

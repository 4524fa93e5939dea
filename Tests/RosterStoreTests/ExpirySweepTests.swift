import Foundation
import Testing
import Fluent
import RosterCore
import RosterStore
import RosterTesting

@Suite struct ExpirySweepTests {
    @Test(arguments: TestBackend.available)
    func thePeriodicSweepExpiresDueInvitationsWithAnAuditEvent(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, settings: ["invitation_ttl_days": 0])
            let id = try #require(try await t.invite(owner, org: org, email: "late@example.com").string("id"))
            try await MembershipStore(t.app.db).expireAllDue(now: Date())
            let row = try #require(try await MembershipModel.find(UUID(uuidString: id), on: t.app.db))
            #expect(row.status == "expired")
            #expect(row.endedAt != nil)
            let events = try await AuditEventModel.query(on: t.app.db).filter(\.$membershipID == row.id).all().map(\.action)
            #expect(events.contains("invitation.expired"))
            let expiry = try await AuditEventModel.query(on: t.app.db).filter(\.$action == "invitation.expired").first()
            #expect(expiry?.actorType == "system")
        }
    }
}

import Foundation
import Testing
import Fluent
import RosterCore
@testable import RosterStore
import RosterStoreTesting

/// `MembershipStore.load`, `apply` and the expiry sweep on a database, without Vapor: the store applies what the
/// engine decided, consume-once, and reports a lost race as the plan's refusal.
@Suite struct LifecycleStoreTests {
    /// An organization with the default roles, as `roster` creates one.
    func organization(_ db: any Database, slug: String = "acme") async throws -> UUID {
        let org = OrganizationModel()
        org.name = "Acme"
        org.slug = slug
        org.description = ""
        org.settings = ScopeSettings()
        try await db.writeTransaction { db in
            try await org.create(on: db)
            for ladder in Ladder.allCases {
                for role in DefaultRoles.roles(for: ladder) { try await RoleModel(orgID: try org.requireID(), ladder: ladder, role: role).create(on: db) }
            }
        }
        return try org.requireID()
    }

    /// A membership row of `scope`.
    func row(_ db: any Database, _ scope: ScopeRef, _ email: String, _ status: MembershipStatus, _ source: MembershipSource,
             expiresAt: Date? = nil) async throws -> MembershipModel {
        let row = MembershipModel(scope: scope, email: email, name: nil, roleKey: "member", status: status, source: source, now: Date())
        row.expiresAt = expiresAt
        try await db.writeTransaction { try await row.create(on: $0) }
        return row
    }

    @Test(arguments: TestBackend.available)
    func aPlanAppliesOnceAndASecondApplyLosesTheRace(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let scope = ScopeRef(orgID: try await organization(db))
            let invitation = try await row(db, scope, "a@example.com", .pending, .invitation, expiresAt: Date().addingTimeInterval(3600))
            var accept = MembershipPlan()
            accept.transition(invitation.facts, to: .active, event: .accepted, actor: .system, set: MembershipChanges(name: .some("Ada")))
            accept.lostRace = RosterError.notFound
            let plan = accept
            let written = try await db.writeTransaction { db in try await MembershipStore(db).apply(plan, now: Date(), requestID: "r1") }
            #expect(written[try invitation.requireID()]?.status == "active", "the updated row comes back from the UPDATE")
            await #expect(throws: RosterError.notFound) {
                try await db.writeTransaction { db in try await MembershipStore(db).apply(plan, now: Date(), requestID: "r2") }
            }
            let events = try await AuditEventModel.query(on: db).filter(\.$membershipID == invitation.id).all()
            #expect(events.map(\.action) == ["invitation.accepted"], "the losing apply wrote nothing")
        }
    }

    @Test(arguments: TestBackend.available)
    func anOrganizationsDeletionEndsEachLiveRowWithAnAuditEvent(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let orgID = try await organization(db)
            let scope = ScopeRef(orgID: orgID)
            _ = try await row(db, scope, "a@example.com", .active, .direct)
            _ = try await row(db, scope, "b@example.com", .pending, .invitation, expiresAt: Date().addingTimeInterval(3600))
            _ = try await row(db, scope, "c@example.com", .pending, .joinRequest)
            _ = try await row(db, scope, "d@example.com", .declined, .invitation)
            let base = ScopeFacts(scope: scope, actor: .commandLine, person: nil, actorName: "cli", authority: .platform,
                                  ladder: RoleLadder(.org, roles: DefaultRoles.org), settings: ScopeSettings(), orgName: "Acme", orgSlug: "acme")
            try await db.writeTransaction { db in
                let store = MembershipStore(db)
                try await store.lockOrganization(orgID)
                let facts = try await store.load(.deleteOrganization, into: base, now: Date())
                #expect(facts.endingRows.count == 3, "live rows only")
                try await store.apply(try Lifecycle.decide(.deleteOrganization, facts: facts, now: Date(), fresh: .unused), now: Date(), requestID: nil)
            }
            let statuses = try await MembershipModel.query(on: db).filter(\.$orgID == orgID).sort(\.$email).all().map(\.status)
            #expect(statuses == ["removed", "revoked", "withdrawn", "declined"])
            let actions = try await AuditEventModel.query(on: db).filter(\.$orgID == orgID).all().map(\.action).sorted()
            #expect(actions == ["invitation.revoked", "join_request.withdrawn", "membership.removed", "organization.deleted"])
            #expect(try await OrganizationModel.find(orgID, on: db)?.deletedAt != nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func thePeriodicSweepExpiresDueInvitationsWithAnAuditEvent(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let scope = ScopeRef(orgID: try await organization(db))
            let due = try await row(db, scope, "late@example.com", .pending, .invitation, expiresAt: Date().addingTimeInterval(-1))
            let open = try await row(db, scope, "open@example.com", .pending, .invitation, expiresAt: Date().addingTimeInterval(3600))
            try await MembershipStore(db).expireAllDue(now: Date())
            let expired = try #require(try await MembershipModel.find(due.id, on: db))
            #expect(expired.status == "expired" && expired.endedAt != nil)
            #expect(try await MembershipModel.find(open.id, on: db)?.status == "pending")
            let events = try await AuditEventModel.query(on: db).filter(\.$membershipID == due.id).all()
            #expect(events.map(\.action) == ["invitation.expired"] && events.map(\.actorType) == ["system"])
        }
    }

    /// Rows an older version left live under a deleted organization or space end once, with an audit event each.
    @Test(arguments: TestBackend.available)
    func theMigrationEndsRowsLeftLiveUnderDeletedScopes(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let gone = try await organization(db, slug: "gone")
            let kept = try await organization(db, slug: "kept")
            _ = try await row(db, ScopeRef(orgID: gone), "a@example.com", .active, .direct)
            _ = try await row(db, ScopeRef(orgID: gone), "b@example.com", .pending, .joinRequest)
            _ = try await row(db, ScopeRef(orgID: kept), "c@example.com", .active, .direct)
            try await db.writeTransaction { db in
                try await db.sql.update(OrganizationModel.schema).set("deleted_at", to: Date()).where("id", .equal, gone).run()
            }
            try await EndRowsOfDeletedScopes().prepare(on: db)
            let statuses = try await MembershipModel.query(on: db).sort(\.$email).all().map(\.status)
            #expect(statuses == ["removed", "withdrawn", "active"])
            let actions = try await AuditEventModel.query(on: db).filter(\.$orgID == gone).all().map(\.action).sorted()
            #expect(actions == ["join_request.withdrawn", "membership.removed"])
        }
    }

    /// Boolean attributes stored as text by earlier versions become JSON booleans; enum values stay strings.
    @Test(arguments: TestBackend.available)
    func theMigrationStoresBooleanAttributesAsJSONBooleans(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let org = try await organization(db)
            let old = try await row(db, ScopeRef(orgID: org), "a@example.com", .active, .direct)
            try await db.writeTransaction { db in
                try await db.sql.update(MembershipModel.schema).set("attributes", to: #"{"level":"b","phantom":"true","quiet":"false"}"#)
                    .where("id", .equal, try old.requireID()).run()
            }
            try await StoreBooleanAttributes().prepare(on: db)
            let stored = try #require(try await MembershipModel.find(old.id, on: db)).attributes
            #expect(stored == #"{"level":"b","phantom":true,"quiet":false}"#)
            #expect(MembershipRow.decodeAttributes(stored) == ["level": "b", "phantom": "true", "quiet": "false"])
            #expect(MembershipRow.encodeAttributes(["level": "b", "phantom": "true"]) == #"{"level":"b","phantom":true}"#)
        }
    }
}

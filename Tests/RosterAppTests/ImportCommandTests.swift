import Foundation
import Testing
import Vapor
@testable import RosterApp
import RosterCore
import RosterTesting

/// `roster import` resolves the roster and the importer like the API, then runs the same engine.
@Suite struct ImportCommandTests {
    @Test(arguments: TestBackend.available)
    func theCommandLineImportUsesTheImportersAuthority(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "uni")
            _ = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin")
            _ = try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Algebra"], token: owner)
            let csv = Data("email,role\nada@example.com,manager\nbob@example.com,\n".utf8)

            let platform = try await ImportCommand.scope(orgRef: "uni", spaceSlug: "algebra", actorEmail: nil, on: t.app.db)
            let (table, columns) = try RosterImport.read(csv, definitions: platform.attributeDefinitions)
            let preview = try await RosterImport.run(table: table, columns: columns, context: platform, dryRun: true, limits: t.app.roster.limits,
                                                              on: t.app.db, requestID: nil)
            #expect(preview.rows.map(\.outcome) == [.invited, .invited])

            let admin = try await ImportCommand.scope(orgRef: "uni", spaceSlug: nil, actorEmail: "admin@example.com", on: t.app.db)
            let orgTable = try RosterImport.read(Data("email,role\nx@example.com,admin\ny@example.com,\n".utf8), definitions: [])
            let report = try await RosterImport.run(table: orgTable.0, columns: orgTable.1, context: admin, dryRun: false, limits: t.app.roster.limits,
                                                             on: t.app.db, requestID: nil)
            #expect(report.rows.map { $0.reason?.rawValue ?? $0.outcome.rawValue } == ["role_not_allowed", "invited"])
            #expect(try await t.emails(to: "y@example.com", kind: "invitation").count == 1)

            _ = try await t.addMember(owner: owner, org: org, email: "m@example.com")
            await #expect(throws: RosterError.self) {
                _ = try await ImportCommand.scope(orgRef: "uni", spaceSlug: nil, actorEmail: "m@example.com", on: t.app.db)
            }
        }
    }
}

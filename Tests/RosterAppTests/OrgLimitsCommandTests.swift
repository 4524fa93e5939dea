import Foundation
import Testing
import Vapor
import NIOConcurrencyHelpers
@testable import RosterApp
import RosterTesting

/// A console that records what a command prints.
final class RecordingConsole: Console {
    private let printed = NIOLockedValueBox("")
    var text: String { printed.withLockedValue { $0 } }
    var size: (width: Int, height: Int) { (120, 40) }
    var userInfo: [AnySendableHashable: any Sendable] {
        get { [:] }
        set {}
    }
    func input(isSecure: Bool) -> String { "" }
    func output(_ text: ConsoleText, newLine: Bool) { printed.withLockedValue { $0 += text.description + (newLine ? "\n" : "") } }
    func clear(_ type: ConsoleClear) {}
    func report(error: String, newLine: Bool) { printed.withLockedValue { $0 += error + (newLine ? "\n" : "") } }
}

/// `roster orgs limits`: a platform admin's budget for one organization's invitation emails.
@Suite struct OrgLimitsCommandTests {
    func run(_ arguments: [String], on app: Application) async throws -> String {
        let console = RecordingConsole()
        var context = CommandContext(console: console, input: CommandInput(arguments: ["roster"] + arguments))
        context.application = app
        try await console.run(OrgsCommand(), with: context)
        return console.text
    }

    @Test(arguments: TestBackend.available)
    func anOrganizationsOwnBudgetHoldsBackItsEmailsAndOnlyItsOwn(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            #expect(try await run(["limits", "acme"], on: t.app) == "acme: invitation emails per hour: 500 (the server's default)\n")
            #expect(try await run(["limits", "acme", "--invites-per-hour", "1"], on: t.app) == "acme: invitation emails per hour: 1 (its own)\n")
            let first = try await t.invite(owner, org: org, email: "a@example.com")
            let second = try await t.invite(owner, org: org, email: "b@example.com")
            #expect(try #require(second.deliveryScheduledAt) >= #require(first.deliveryScheduledAt) + 3600, "the second waits an hour")
            for bad in ["0", "many", "2000000"] {
                await #expect(throws: CommandLineError.self) { try await run(["limits", "acme", "--invites-per-hour", bad], on: t.app) }
            }
            await #expect(throws: CommandLineError.self) { try await run(["limits", "nobody"], on: t.app) }
            #expect(try await run(["limits", "acme", "--invites-per-hour", "default"], on: t.app).contains("500 (the server's default)"))
            let audit = try await t.send(.GET, "/v1/orgs/\(org)/audit", token: owner)
            let changes = (audit.json["items"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "organization.updated" }
            #expect(changes.count == 2 && changes.allSatisfy { ($0["actor"] as? [String: Any])?["type"] as? String == "cli" })
        }
    }
}

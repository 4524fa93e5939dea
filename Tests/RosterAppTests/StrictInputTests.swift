import Foundation
import Testing
import Vapor
import Logging
@testable import RosterApp
import RosterCore
import RosterTesting

/// Issue 13, points 6 and 7: parameters are read strictly, searches never fail, secrets stay out of messages and
/// other users' reach.
@Suite struct StrictInputTests {
    @Test(arguments: TestBackend.available)
    func aDryRunFlagThatIsNotABooleanIsRefusedAndWritesNothing(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            for flag in ["yes", "no", "", "TRUE "] {
                let response = try await t.send(.POST, "/v1/orgs/\(org)/imports?dry_run=\(flag.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")", token: owner,
                                                body: Data("email\nnew@example.com\n".utf8), headers: ["Content-Type": "text/csv"])
                #expect(response.status == .unprocessableEntity && response.code == "validation_failed", "dry_run=\(flag): \(response.text)")
            }
            let members = try await t.send(.GET, "/v1/orgs/\(org)/members?q=new", token: owner)
            #expect((members.json["items"] as? [Any])?.isEmpty == true, "nothing was imported")
            let preview = try await t.send(.POST, "/v1/orgs/\(org)/imports?dry_run=TRUE", token: owner,
                                           body: Data("email\nnew@example.com\n".utf8), headers: ["Content-Type": "text/csv"])
            #expect(preview.json["dry_run"] as? Bool == true)
        }
    }

    @Test(arguments: TestBackend.available)
    func anySearchTextAnswersWithMatchesOrA422NeverA500(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            _ = try await t.invite(owner, org: org, email: "ada.lovelace@example.com")
            func search(_ q: String) async throws -> TestResponse {
                try await t.send(.GET, "/v1/orgs/\(org)/members?q=\(q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")", token: owner)
            }
            for q in ["a\u{0}b", "line\nbreak", String(repeating: "x", count: 10_000)] {
                let response = try await search(q)
                #expect(response.status == .unprocessableEntity && response.code == "validation_failed", "\(q.prefix(20)): \(response.status)")
            }
            for q in ["\"ada\" OR b*", "NEAR(ada lovelace)", "%", "_", "lovelace"] {
                let response = try await search(q)
                #expect(response.status == .ok, "\(q): \(response.text.prefix(200))")
                let emails = (response.json["items"] as? [[String: Any]])?.compactMap { $0["email"] as? String }
                #expect(emails == (q == "lovelace" ? ["ada.lovelace@example.com"] : []), "\(q) is matched literally")
            }
        }
    }

    @Test func aBadDatabaseURLIsReportedWithoutItsPassword() {
        let error = #expect(throws: ConfigurationError.self) {
            try RosterConfiguration.fromEnvironment(["DATABASE_URL": "mysql://roster:s3cret-pass@db.internal/roster"])
        }
        #expect(error?.description.contains("s3cret-pass") == false)
        #expect(error?.description.contains("mysql://roster:***@db.internal/roster") == true)
    }

    @Test func emailFilesAreTheOwnersAlone() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("roster-outbox-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mailer = FileMailer(directory: directory, logger: Logger(label: "test"))
        try await mailer.send(EmailMessage(to: "ada@example.com", subject: "Hi", text: "token", html: "<p>token</p>"))
        let directoryMode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        #expect(directoryMode == 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(files.count == 1)
        let fileMode = try FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent(files[0]))[.posixPermissions] as? Int
        #expect(fileMode == 0o600)
    }

    /// Issue 13, point 4 (and DESIGN §2: the inviter holds a verified email): an unverified account creates no
    /// organization and sends no invitation, through the API or an import, whatever its authority.
    @Test(arguments: TestBackend.available)
    func anUnverifiedAccountCannotCreateAnOrganizationInviteOrImport(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            _ = try await t.signUp("stranger@example.com")
            let stranger = try await t.signIn("stranger@example.com")
            let created = try await t.send(.POST, "/v1/orgs", json: ["name": "Spam Inc"], token: stranger)
            #expect(created.status == .forbidden && created.code == "forbidden", "\(created.text)")
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            // Even platform administration does not lift the rule for a person whose address is unproven.
            try await t.makePlatformAdmin("stranger@example.com")
            let invite = try await t.invite(stranger, org: org, email: "victim@example.com")
            #expect(invite.status == .forbidden, "\(invite.text)")
            let upload = try await t.send(.POST, "/v1/orgs/\(org)/imports", token: stranger, body: Data("email\nvictim@example.com\n".utf8),
                                          headers: ["Content-Type": "text/csv"])
            #expect(upload.status == .forbidden, "\(upload.text)")
            #expect(try await t.emails(to: "victim@example.com").isEmpty)
        }
    }
}

import Foundation
import Testing
import RosterCore
import RosterStoreTesting
import RosterTesting
import Vapor
@testable import RosterApp

/// The `roster` executable as scripts drive it (issue 14, points 3 and 7): exit codes, `--json`, `config check`,
/// `.env` and `NAME_FILE`. Runs the binary built next to the tests.
@Suite struct CommandLineTests {
    static let binary: String? = {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("roster").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    struct Run { var code: Int32; var out: String; var err: String }

    func roster(_ arguments: [String], _ environment: [String: String], in directory: String? = nil, executable: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable ?? #require(Self.binary))
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", "ROSTER_OUTBOX_WORKER": "off"].merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile(), errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(code: process.terminationStatus, out: String(decoding: output, as: UTF8.self), err: String(decoding: errors, as: UTF8.self))
    }

    func environment(_ location: DatabaseLocation) -> [String: String] {
        switch location {
        case .sqlite(let path): ["ROSTER_DATA_DIR": (path as NSString).deletingLastPathComponent]
        case .postgres(let url): ["DATABASE_URL": url, "ROSTER_DATA_DIR": NSTemporaryDirectory() + "roster-cli-\(UUID().uuidString)"]
        }
    }

    func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "roster-cli-\(UUID().uuidString).csv"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(.enabled(if: binary != nil, "needs the roster executable built next to the tests"), arguments: TestBackend.available)
    func importExitCodesAndJSONForScripts(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            _ = try await t.createOrg(owner, slug: "acme")
            let env = environment(t.location)

            let good = try roster(["import", "--org", "acme", "--json", try file("email\na@example.com\nb@example.com\n")], env)
            #expect(good.code == 0, "\(good.err)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(good.out.utf8)) as? [String: Any])
            #expect((report["summary"] as? [String: Any])?["invited"] as? Int == 2)

            let partly = try roster(["import", "--org", "acme", "--json", try file("email\nc@example.com\nnot-an-email\n")], env)
            #expect(partly.code == 3, "some rows failed: \(partly.err)")
            #expect((try JSONSerialization.jsonObject(with: Data(partly.out.utf8)) as? [String: Any])?["rows"] != nil)

            #expect(try roster(["import", "--org", "acme", try file("name\nNo Email\n")], env).code == 2, "a file that cannot be imported")
            #expect(try roster(["import", try file("email\nd@example.com\n")], env).code == 2, "no --org")
            #expect(try roster(["import", "--org", "nobody", try file("email\nd@example.com\n")], env).code == 2)

            // --sync: the file is the truth; past the threshold nothing changes (bad input, exit 2), raised it applies.
            let smaller = try file("email\na@example.com\n")
            let preview = try roster(["import", "--org", "acme", "--sync", "--dry-run", "--json", smaller], env)
            let sync = (try JSONSerialization.jsonObject(with: Data(preview.out.utf8)) as? [String: Any])?["sync"] as? [String: Any]
            #expect(preview.code == 0 && sync?["exceeded"] as? Bool == true && (sync?["revoked"] as? [Any])?.count == 2, "\(preview.err)")
            let refused = try roster(["import", "--org", "acme", "--sync", smaller], env)
            #expect(refused.code == 2 && refused.err.contains("change_threshold"), "\(refused.err)")
            #expect(try roster(["import", "--org", "acme", "--change-threshold", "50", smaller], env).code == 2, "a threshold without --sync")
            let applied = try roster(["import", "--org", "acme", "--sync", "--change-threshold", "100", smaller], env)
            #expect(applied.code == 0 && applied.out.contains("Sync: 0 removed, 2 invitations revoked"), "\(applied.out) \(applied.err)")

            let keys = try roster(["keys", "list", "--json"], env)
            let listed = try JSONSerialization.jsonObject(with: Data(keys.out.utf8)) as? [Any]
            #expect(keys.code == 0 && listed != nil)
            let outbox = try roster(["outbox", "list", "--json"], env)
            #expect(outbox.code == 0)
            let messages = try #require(try JSONSerialization.jsonObject(with: Data(outbox.out.utf8)) as? [[String: Any]])
            let invitations = messages.filter { $0["kind"] as? String == "invitation" }
            #expect(invitations.count == 3 && invitations.filter { $0["status"] as? String == "superseded" }.count == 2,
                    "the sync's revocations superseded two of the three invitations: \(invitations.map { $0["status"] ?? "?" })")
        }
    }

    /// A separate `roster worker` serves its own `/metrics` (its email counters) on `ROSTER_METRICS_ADDRESS`.
    @Test(.enabled(if: binary != nil, "needs the roster executable built next to the tests"))
    func aSeparateWorkerServesItsEmailCounters() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/members", json: ["email": "new@example.com"], token: owner).status == .created)
            // (Below Linux's ephemeral ports, 32768 and up, which the suite's own connections take.)
            let port = Int.random(in: 10_000...32_000)
            let worker = Process()
            worker.executableURL = URL(fileURLWithPath: try #require(Self.binary))
            worker.arguments = ["worker"]
            worker.environment = environment(t.location).merging(["PATH": "/usr/bin:/bin", "ROSTER_METRICS_ADDRESS": "127.0.0.1:\(port)"]) { $1 }
            worker.standardOutput = FileHandle.nullDevice
            worker.standardError = FileHandle.nullDevice
            try worker.run()
            defer { worker.terminate(); worker.waitUntilExit() }
            let sent = #"roster_emails_total{kind="invitation",result="sent"} 1"#
            var scraped = ""
            // (Up to a minute: a debug build starting on two cores busy with the rest of the suite can take a while.)
            for _ in 0..<1200 where !scraped.contains(sent) {
                let response = try? await t.app.client.get("http://127.0.0.1:\(port)/metrics")
                scraped = response?.body.map { String(buffer: $0) } ?? ""
                if !scraped.contains(sent) { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(scraped.contains(sent), "the worker's scrape: \(scraped.prefix(400))")
            #expect(scraped.contains("roster_outbox_messages"))
        }
    }

    /// `roster serve` with `ROSTER_METRICS_ADDRESS` answers the API on its port and `/metrics` on the other only.
    @Test(.enabled(if: binary != nil, "needs the roster executable built next to the tests"))
    func serveKeepsItsPortWhenMetricsHaveTheirOwn() async throws {
        try await TestApp.with(.sqlite) { t in
            // (Below Linux's ephemeral ports, 32768 and up, which the suite's own connections take.)
            let port = Int.random(in: 21_000...32_000), metricsPort = Int.random(in: 10_000...20_999)
            let server = Process()
            server.executableURL = URL(fileURLWithPath: try #require(Self.binary))
            server.arguments = ["serve"]
            server.environment = environment(t.location).merging([
                "PATH": "/usr/bin:/bin", "ROSTER_PORT": "\(port)", "ROSTER_METRICS_ADDRESS": "127.0.0.1:\(metricsPort)"]) { $1 }
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            defer { server.terminate(); server.waitUntilExit() }
            var health: HTTPStatus?
            // (Up to a minute: a debug build starting on two cores busy with the rest of the suite can take a while.)
            for _ in 0..<1200 where health != .ok && server.isRunning {
                health = try? await t.app.client.get("http://127.0.0.1:\(port)/healthz").status
                if health != .ok { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(health == .ok, "the API on its own port (the server \(server.isRunning ? "is still starting" : "exited"))")
            #expect(try await t.app.client.get("http://127.0.0.1:\(port)/metrics").status == .notFound)
            let metrics = try await t.app.client.get("http://127.0.0.1:\(metricsPort)/metrics")
            #expect(metrics.status == .ok && metrics.body.map { String(buffer: $0) }?.contains("http_requests_total") == true)
        }
    }

    /// On a terminal (`script` gives the command one), `roster import` shows each phase with its rows per second.
    @Test(.enabled(if: binary != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs the roster executable and script(1)"))
    func importShowsItsProgressOnATerminal() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            _ = try await t.createOrg(owner, slug: "acme")
            let csv = try file("email\na@example.com\nb@example.com\n")
            let directory = (environment(t.location)["ROSTER_DATA_DIR"] ?? "")
            let command = "ROSTER_DATA_DIR='\(directory)' ROSTER_OUTBOX_WORKER=off '\(try #require(Self.binary))' import --org acme '\(csv)'"
            let shown = try roster(["-qec", command, "/dev/null"], [:], executable: "/usr/bin/script")
            #expect(shown.code == 0, "\(shown.err)")
            for phase in ["Read 2 rows", "Planned 2 rows", "Written 2 rows", "rows/s", "2 rows: 2 invited"] { #expect(shown.out.contains(phase), "\(phase): \(shown.out)") }
            let piped = try roster(["import", "--org", "acme", "--dry-run", csv], environment(t.location))
            #expect(!piped.out.contains("rows/s"), "not when the output is a pipe")
        }
    }

    @Test(.enabled(if: binary != nil, "needs the roster executable built next to the tests"))
    func configurationComesFromTheEnvironmentDotEnvAndFiles() throws {
        let directory = NSTemporaryDirectory() + "roster-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("# settings\nexport ROSTER_LOG_FORMAT=json\nROSTER_PORT=\"9001\"\nROSTER_INVITES_PER_HOUR=42 # per org\n".utf8)
            .write(to: URL(fileURLWithPath: directory + "/.env"))
        try Data("postgres://roster:s3cret@db.example:5432/roster\n".utf8).write(to: URL(fileURLWithPath: directory + "/database-url"))
        let env = ["ROSTER_DATA_DIR": directory + "/data", "ROSTER_PORT": "9002", "DATABASE_URL_FILE": directory + "/database-url"]

        let check = try roster(["config", "check"], env, in: directory)
        #expect(check.code == 0, "\(check.err)")
        let lines = check.out.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        func setting(_ name: String) -> String? { lines.first { $0.first == name }.map { $0.dropFirst().joined(separator: " ") } }
        #expect(setting("ROSTER_LOG_FORMAT") == "json", "from .env")
        #expect(setting("ROSTER_PORT") == "9002", "the real environment wins over .env")
        #expect(setting("ROSTER_INVITES_PER_HOUR") == "42")
        #expect(setting("DATABASE_URL") == "postgres://roster:***@db.example:5432/roster", "read from DATABASE_URL_FILE, its password masked")
        #expect(!check.out.contains("s3cret"))

        let bad = try roster(["config", "check"], env.merging(["ROSTER_PORT": "eighty"]) { $1 }, in: directory)
        #expect(bad.code == 1 && bad.err.contains("ROSTER_PORT"))
        let missing = try roster(["config", "check"], env.merging(["DATABASE_URL_FILE": directory + "/nothing"]) { $1 }, in: directory)
        #expect(missing.code == 1 && missing.err.contains("DATABASE_URL_FILE"))
    }
}

@Suite struct DotEnvTests {
    @Test func linesCommentsQuotesAndRefusals() throws {
        let values = try ConfigurationSources.parseDotEnv("A=1\n\n# comment\nexport B = two words \nC='#not a comment'\nD=x # comment\r\nE=\nF=\"a b\" # note\n")
        #expect(values == ["A": "1", "B": "two words", "C": "#not a comment", "D": "x", "E": "", "F": "a b"])
        #expect(throws: ConfigurationError.self) { try ConfigurationSources.parseDotEnv("A=1\nnonsense\n") }
    }

    @Test func theRealEnvironmentWinsHoweverEitherGivesASetting() throws {
        let file = NSTemporaryDirectory() + "roster-secret-\(UUID().uuidString)"
        try Data("from-the-file\n".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let merged = try ConfigurationSources.merged(environment: ["ROSTER_BASE_URL_FILE": file, "TF_CLI_CONFIG_FILE": "/nowhere"],
                                                     dotEnv: ["ROSTER_BASE_URL": "from-dotenv"])
        #expect(merged["ROSTER_BASE_URL"] == "from-the-file" && merged["ROSTER_BASE_URL_FILE"] == nil)
        #expect(merged["TF_CLI_CONFIG_FILE"] == "/nowhere", "another program's setting is left alone")
        #expect(throws: ConfigurationError.self) {
            try ConfigurationSources.merged(environment: ["ROSTER_BASE_URL": "x", "ROSTER_BASE_URL_FILE": file], dotEnv: [:])
        }
    }
}

/// Issue 14, point 4: `roster backup` copies a live SQLite database consistently; `roster restore` puts it back, and
/// not under a running server.
@Suite struct BackupTests {
    let cli = CommandLineTests()

    @Test(.enabled(if: CommandLineTests.binary != nil, "needs the roster executable built next to the tests"))
    func aBackupTakenDuringAnImportRestoresAWholeRoster() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            let env = cli.environment(t.location)
            let rows = 3000
            let csv = "email\n" + (0..<rows).map { "p\($0)@example.com" }.joined(separator: "\n") + "\n"
            let backup = NSTemporaryDirectory() + "roster-backup-\(UUID().uuidString).sqlite"
            defer { try? FileManager.default.removeItem(atPath: backup) }
            async let imported = t.importCSV("/v1/orgs/\(org)", csv, token: owner)
            let copied = try cli.roster(["backup", backup], env)
            #expect(try await imported.status == .ok)
            #expect(copied.code == 0, "\(copied.err)")
            #expect(try cli.roster(["backup", backup], env).code == 2, "an existing file is not overwritten")

            let fresh = NSTemporaryDirectory() + "roster-restored-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: fresh) }
            let restored = try cli.roster(["restore", backup], ["ROSTER_DATA_DIR": fresh])
            #expect(restored.code == 0, "\(restored.err)")
            // The same file, planned against the restored roster: every row is there, or none is.
            let plan = try cli.roster(["import", "--org", "acme", "--dry-run", "--json", try cli.file(csv)], ["ROSTER_DATA_DIR": fresh])
            let summary = try #require((try JSONSerialization.jsonObject(with: Data(plan.out.utf8)) as? [String: Any])?["summary"] as? [String: Any])
            let (invited, already) = (summary["invited"] as? Int ?? -1, summary["already_invited"] as? Int ?? -1)
            #expect((invited == rows && already == 0) || (invited == 0 && already == rows), "whole: \(summary)")
        }
    }

    @Test(.enabled(if: CommandLineTests.binary != nil, "needs the roster executable built next to the tests"))
    func restoreIsRefusedWhileAServerHoldsTheDatabase() async throws {
        let directory = NSTemporaryDirectory() + "roster-held-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backup = directory + "-backup.sqlite"
        defer { try? FileManager.default.removeItem(atPath: backup) }
        #expect(try cli.roster(["migrate"], ["ROSTER_DATA_DIR": directory]).code == 0)
        #expect(try cli.roster(["backup", backup], ["ROSTER_DATA_DIR": directory]).code == 0)
        let held = try #require(try DataDirectoryLock.take(in: directory, exclusive: false), "as roster serve holds it")
        let refused = try cli.roster(["restore", backup], ["ROSTER_DATA_DIR": directory])
        #expect(refused.code == 1 && refused.err.contains("stop it"), "busy, not bad input: worth trying again")
        close(held)
        #expect(try cli.roster(["restore", backup], ["ROSTER_DATA_DIR": directory]).code == 0)
        #expect(try cli.roster(["restore", directory + "/roster.lock"], ["ROSTER_DATA_DIR": directory]).code == 2, "not a database")
    }
}

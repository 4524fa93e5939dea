import Vapor
import NIOConcurrencyHelpers
import Fluent
import RosterCore
import RosterStore

/// `roster import --org SLUG [--space SLUG] FILE.csv [--dry-run] [--as EMAIL]`: the API's import engine against
/// the configured database. Prints the summary and writes the full report as JSON next to the file (and the failed
/// rows as CSV, when there are any).
struct ImportCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "org", help: "The organization's slug or id.") var org: String?
        @Option(name: "space", help: "The space's slug within the organization (omit for the organization's roster).") var space: String?
        @Option(name: "as", help: "Import as this account (its role limits what it may grant); default: platform administration.") var actor: String?
        @Flag(name: "dry-run", help: "Plan and report without writing anything.") var dryRun: Bool
        @Flag(name: "sync", help: "The file is the truth: also end the live memberships it does not list (owners, the importer and join requests stay).")
        var sync: Bool
        @Option(name: "change-threshold", help: "With --sync: the largest share (percent, default 10) of live memberships it may end.")
        var changeThreshold: Int?
        @Flag(name: "json", help: "Print the report as JSON on standard output (and write no files).") var json: Bool
        @Argument(name: "file", help: "The CSV file (UTF-8, header row).") var file: String
    }

    var help: String {
        "Imports a roster CSV into an organization or one of its spaces (the same engine as POST …/imports). Exit codes: 0 every row applied, "
            + "3 some rows failed, 2 bad input (options, file), 1 an error."
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let orgRef = signature.org else { throw CommandLineError("--org is required") }
        let app = context.application
        try await migrate(app)
        guard let data = FileManager.default.contents(atPath: signature.file) else {
            throw CommandLineError("cannot read \(signature.file)")
        }
        let scope = try await Self.scope(orgRef: orgRef, spaceSlug: signature.space, actorEmail: signature.actor, on: app.db)
        // Progress on a terminal only: a script reading the output gets the summary (or the JSON) alone.
        let progress = !signature.json && isatty(STDOUT_FILENO) == 1 ? ImportProgress() : nil
        let (table, columns): (CSVTable, ImportColumns)
        do {
            (table, columns) = try RosterImport.read(data, definitions: scope.attributeDefinitions)
        } catch let error as RosterError {
            for issue in error.issues { context.console.error("\(issue.field): \(issue.message)") }
            throw CommandLineError("the file cannot be imported; nothing was written")
        }
        progress?.show("Read", table.records.count, done: true)
        var written: (@Sendable (Int) -> Void)?
        var planned: (@Sendable ([ImportRowReport]) -> Void)?
        if let progress {
            written = { rows in progress.show("Written", rows, done: false) }
            planned = { reports in progress.show("Planned", reports.count, done: true) }
        }
        let report: ImportReport
        do {
            defer { progress?.finish() }
            report = try await RosterImport.run(table: table, columns: columns, context: scope, dryRun: signature.dryRun,
                                                limits: app.roster.limits, on: app.db, requestID: nil,
                                                changeThreshold: try Self.changeThreshold(signature), written: written, planned: planned)
            // Leaves the new rows indexed for search (a running `roster serve` would otherwise do it shortly).
            if !signature.dryRun { try await SearchIndex(app.db).catchUpAll() }
        }
        let s = report.summary
        let failed = s.failed + s.failedToSend > 0
        if signature.json {
            FileHandle.standardOutput.write(Data(report.json()) + Data("\n".utf8))
            if failed { CommandOutcome.exit(with: ExitCode.someRowsFailed) }
            return
        }
        let base = (signature.file as NSString).deletingPathExtension
        let reportPath = base + ".report.json"
        try Data(report.json()).write(to: URL(fileURLWithPath: reportPath))
        context.console.print("\(signature.dryRun ? "Dry run: " : "")\(s.rows) rows: \(s.invited) invited, \(s.added) added, "
            + "\(s.alreadyInvited) already invited, \(s.alreadyMember) already members (\(s.updated) updated), \(s.failed) failed, \(s.failedToSend) failed to send.")
        if let sync = report.sync {
            context.console.print("Sync: \(sync.removed.count) removed, \(sync.revoked.count) invitations revoked, \(sync.kept.count) kept although not listed"
                + (sync.exceeded ? " — more than --change-threshold \(sync.changeThreshold)%: an applied sync would be refused." : "."))
        }
        context.console.print("Report: \(reportPath)")
        if s.failed + s.failedToSend > 0 {
            let failuresPath = base + ".failures.csv"
            try Data(report.failuresCSV.utf8).write(to: URL(fileURLWithPath: failuresPath))
            context.console.print("Failed rows (line, email, reason), to fix and import again: \(failuresPath)")
        }
        if failed { CommandOutcome.exit(with: ExitCode.someRowsFailed) }
    }

    /// The sync threshold of the options (nil: an ordinary import); a threshold without `--sync` or outside 0…100 is bad input.
    static func changeThreshold(_ signature: Signature) throws -> Int? {
        guard signature.sync else {
            if signature.changeThreshold != nil { throw CommandLineError("--change-threshold is for --sync only") }
            return nil
        }
        let threshold = signature.changeThreshold ?? SyncOptions.defaultChangeThreshold
        guard (0...100).contains(threshold) else { throw CommandLineError("--change-threshold must be a percentage from 0 to 100") }
        return threshold
    }

    /// The roster to import into, with the importer's identity: an account (`--as`), or platform administration.
    static func scope(orgRef: String, spaceSlug: String?, actorEmail: String?, on db: any Database) async throws -> ScopeContext {
        guard let org = try await Directory(db).organization(ref: orgRef), let orgID = org.id else { throw CommandLineError("no organization '\(orgRef)'") }
        var space: SpaceModel?
        if let spaceSlug {
            space = try await Directory(db).space(orgID: orgID, slug: spaceSlug)
            guard space != nil else { throw CommandLineError("no space '\(spaceSlug)' in \(org.slug)") }
        }
        var account: AccountModel?
        if let actorEmail {
            guard let email = EmailAddress(actorEmail), let found = try await AccountStore(db).account(email: email) else {
                throw CommandLineError("no account '\(actorEmail)'")
            }
            account = found
        }
        let ladder = try await MembershipStore(db).ladder(orgID: orgID, space == nil ? .org : .space)
        let actor = try account.map { AuditActor.account(try $0.requireID()) } ?? .commandLine
        var context = ScopeContext(org: org, scope: ScopeRef(orgID: orgID, spaceID: space?.id), ladder: ladder, authority: .platform,
                                   actor: actor, account: account, actorName: account?.name ?? org.name,
                                   settings: space?.settings(in: org) ?? org.settings, spaceName: space?.name)
        context.attributeDefinitions = space?.attributeDefinitions ?? []
        // The importer's authority, as the API would compute it.
        context = try await context.locked(on: db)
        try context.authority.require(.importsRun)
        return context
    }
}

/// The import's progress on a terminal: each phase on its line with its rows per second (reading, planning), and
/// the writing of new rows on one line rewritten as batches land.
final class ImportProgress: Sendable {
    private let phaseStart = NIOLockedValueBox(ContinuousClock.now)
    private let writing = NIOLockedValueBox(false)

    /// Shows `rows` of `phase`, ended (a line of its own) or still going (the line rewritten).
    func show(_ phase: String, _ rows: Int, done: Bool) {
        let elapsed = phaseStart.withLockedValue { start in ContinuousClock.now - start }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Int(Double(rows) / seconds) : rows
        let line = "\(phase) \(rows) rows in \(String(format: "%.2f", seconds)) s (\(rate) rows/s)"
        writing.withLockedValue { $0 = !done }
        FileHandle.standardOutput.write(Data(("\r\u{1B}[2K" + line + (done ? "\n" : "")).utf8))
        if done { phaseStart.withLockedValue { $0 = ContinuousClock.now } }
    }

    /// Ends a line still being rewritten.
    func finish() {
        if writing.withLockedValue({ $0 }) { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }
}


import Vapor
import Fluent
import RosterCore
import RosterStore

/// The import use case, shared by the API, the web page and `roster import`: the file read whole, planned by the pure
/// `ImportPlanner` against the roster read under the organization's lock, and written by `ImportWriter` in the same
/// transaction (DESIGN §4, §7).
enum RosterImport {
    /// Whether `context`'s actor may import at all: `imports.run`, and (a person) a verified email, as for any
    /// invitation. Checked before a body is read, and again under the lock.
    static func authorize(_ context: ScopeContext) throws(RosterError) {
        try context.authority.require(.importsRun)
        try Lifecycle.requireVerifiedInviter(context.person)
    }

    /// Multipart parts an upload may hold (the file and a few fields); more is refused before the form is parsed,
    /// whose parser's time grows with the square of the parts.
    static let maximumParts = 16

    /// Reads an upload's body once the caller was authenticated and authorized: at most `maximumBytes` (413), and
    /// for a multipart form at most `maximumParts` parts (422), counted on the raw bytes before any parsing.
    static func collectUpload(_ req: Request, maximumBytes: Int) async throws {
        _ = try await req.body.collect(max: maximumBytes).get()
        guard let type = req.headers.contentType, type.type == "multipart", let boundary = type.parameters["boundary"], !boundary.isEmpty,
              let body = req.body.data else { return }
        let delimiter = Array(("--" + boundary).utf8)
        var parts = 0
        body.withUnsafeReadableBytes { bytes in
            var start = bytes.startIndex
            while let found = bytes[start...].firstRange(of: delimiter) {
                parts += 1
                if parts > maximumParts + 1 { return }
                start = found.upperBound
            }
        }
        if parts > maximumParts + 1 {   // n parts have n + 1 delimiters (the last one closes the form)
            throw RosterError(.validationFailed, "The form has more than \(maximumParts) parts; send the CSV as the part named \"file\".")
        }
    }

    /// Plans and (unless `dryRun`) applies an import. A real import plans against the roster read under the
    /// organization's write lock, in the transaction that writes it.
    ///
    /// With `changeThreshold` it is a sync (`SyncOptions`): live rows the file does not list end, in the same
    /// transaction, and the whole sync is refused (422 `change_threshold_exceeded`) when they pass the threshold.
    static func run(table: CSVTable, columns: ImportColumns, context unlocked: ScopeContext, dryRun: Bool, limits: RosterLimits,
                    on database: any Database, requestID: String?, changeThreshold: Int? = nil, written: (@Sendable (Int) -> Void)? = nil,
                    planned: (@Sendable ([ImportRowReport]) -> Void)? = nil) async throws -> ImportReport {
        try authorize(unlocked)
        let now = Date()
        let run: @Sendable (any Database, ScopeContext) async throws -> ImportReport = { db, context in
            let writer = ImportWriter(db)
            let snapshot = try await writer.snapshot(scopeID: context.scope.scopeID)
            let known = Set(snapshot.map(\.email))
            let directAdd = Lifecycle.addsDirectly(settings: context.settings, authority: context.authority)
            var verified: [String: UUID] = [:]
            if directAdd {
                let fileEmails = table.records.compactMap { $0.cells.indices.contains(columns.email) ? EmailAddress($0.cells[columns.email])?.value : nil }
                verified = try await writer.verifiedAccounts(among: fileEmails.filter { !known.contains($0) })
            }
            let sync = changeThreshold.map { SyncOptions(importerAccountID: context.account?.id, changeThreshold: $0) }
            let planning = ImportContext(rows: snapshot, ladder: context.ladder, authority: context.authority, definitions: context.attributeDefinitions,
                                         directAdd: directAdd, verifiedAccounts: Set(verified.keys), seatLimit: context.settings.seatLimit, sync: sync)
            let (plan, reports) = ImportPlanner.plan(table, columns: columns, context: planning)
            planned?(reports)
            if let outcome = plan.sync, outcome.exceeded, !dryRun {
                throw RosterError(.changeThresholdExceeded,
                                  "The sync would end \(outcome.ending) of the roster's \(outcome.live) live memberships (\(outcome.removed.count) removed, "
                                  + "\(outcome.revoked.count) invitations revoked), more than change_threshold=\(outcome.changeThreshold)%. "
                                  + "Nothing changed. Check the file (a dry run lists them), or raise change_threshold on the call.",
                                  issues: [FieldIssue(field: "change_threshold", message: "\(outcome.ending) of \(outcome.live) would end")])
            }
            if !dryRun, let outcome = plan.sync, outcome.ending > 0 {
                // The endings first: they free the seats the file's new rows may take.
                let byID = Dictionary(snapshot.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                let ending = (outcome.removed + outcome.revoked).compactMap { byID[$0.id] }.map { row in
                    MembershipFacts(id: row.id, scope: context.scope, status: row.status, source: row.source, roleKey: row.roleKey,
                                    accountID: row.accountID, email: row.email, name: row.name, externalID: row.externalID, attributes: row.attributes)
                }
                let spaceRows = context.scope.spaceID == nil && !outcome.removed.isEmpty
                    ? try await MembershipStore(db).liveSpaceRows(orgID: context.scope.orgID) : []
                try await MembershipStore(db).apply(Lifecycle.syncEndings(ending, spaceRows: spaceRows, actor: context.actor), now: now, requestID: requestID)
            }
            if !dryRun {
                let roleNames = Dictionary(uniqueKeysWithValues: context.ladder.roles.map { ($0.key, $0.name) })
                // In email order with time-ordered IDs, so that the inserts append to the email and ID indexes rather
                // than land all over them; made a batch at a time as the writer reads them (tokens and emails for
                // 100,000 rows are never all held).
                let order = plan.newRows.indices.sorted { plan.newRows[$0].email < plan.newRows[$1].email }
                // Each invitation email takes the next slot of the organization's budget, in the order they are
                // written; an invitation expires counting from when its email goes.
                let invitations = plan.newRows.count { !$0.active }
                var budget = try await Outbox(db).invitationBudget(orgID: context.scope.orgID, perHour: context.invitationsPerHour(limits), now: now,
                                                                   takes: invitations)
                var slots = [Date](repeating: now, count: plan.newRows.count)
                for index in order where !plan.newRows[index].active { slots[index] = budget.take(now: now) }
                let newRows = order.lazy.map { index -> ImportWriter.NewMembership in
                    let row = plan.newRows[index]
                    if row.active {
                        return .init(id: TimeOrderedID.make(now: now), row: row, accountID: verified[row.email], tokenHash: nil, email: nil)
                    }
                    let token = Secret.generate()
                    let sendAt = slots[index], expiresAt = Lifecycle.expiry(from: sendAt, ttlDays: context.settings.invitationTTLDays)
                    let email = EmailTemplates.invitation(to: row.email, inviterName: context.actorName, organization: context.org.name,
                                                          space: context.spaceName, roleName: roleNames[row.roleKey] ?? row.roleKey,
                                                          token: token, expiresAt: expiresAt)
                    return .init(id: TimeOrderedID.make(now: now), row: row, accountID: nil, tokenHash: Secret.hash(token), email: email,
                                 invitation: (sendAt, expiresAt))
                }
                try await writer.apply(newRows: newRows, changes: plan.changes, scope: context.scope, actor: context.actor,
                                       invitedBy: context.actor.id, requestID: requestID, now: now, progress: written)
                // A join request the import met is now a membership: its requester hears so, as from a single invite.
                let emails = Dictionary(snapshot.map { ($0.id, $0.email) }, uniquingKeysWith: { first, _ in first })
                for change in plan.changes {
                    guard let role = change.activateWithRole, let email = emails[change.id] else { continue }
                    try await Outbox(db).enqueue(
                        EmailTemplates.joinRequestDecided(to: email, approved: true, organization: context.org.name, space: context.spaceName,
                                                          roleName: roleNames[role] ?? role),
                        orgID: context.scope.orgID, membershipID: change.id, now: now)
                }
            }
            var report = ImportReport(dryRun: dryRun, rows: reports, sync: plan.sync)
            if !dryRun { report.id = try await writer.store(report, scope: context.scope, actor: context.actor, at: now) }
            return report
        }
        if dryRun {
            // Invitations whose time is up end first, as they do before an applied import (the expiry is the time's
            // doing, not the dry run's), so both plan against the same roster.
            try await MembershipStore(database).expireInvitationsIfDue(scopeID: unlocked.scope.scopeID, now: now)
            return try await run(database, unlocked)
        }
        let report = try await database.writeTransaction { db in
            let context = try await unlocked.locked(on: db)
            try authorize(context)
            try await MembershipStore(db).expireInvitations(scopeID: context.scope.scopeID, now: now)
            return try await run(db, context)
        }
        let outcomes = Dictionary(report.rows.map { ($0.reason?.rawValue ?? $0.outcome.rawValue, 1) }, uniquingKeysWith: +)
        for (outcome, count) in outcomes { RosterMetrics.importRows(outcome).increment(by: count) }
        return report
    }

    /// Parses and checks the whole file (stopping past the row limit); its problems are listed, at most
    /// `ImportFileError.maximumIssues` of them and a count of the rest (422 `invalid_file`, nothing written).
    static func read(_ data: Data, definitions: [AttributeDefinition]) throws -> (CSVTable, ImportColumns) {
        do {
            let table = try CSVTable.parse(data, maximumRecords: RosterImportController.maximumRows)
            let columns = try ImportColumns.resolve(header: table.header, attributeKeys: definitions.map(\.key))
            if table.records.isEmpty {
                throw ImportFileError([ImportFileIssue(line: nil, code: "no_data_rows", message: "The file has a header but no data rows.")])
            }
            return (table, columns)
        } catch let error as ImportFileError {
            // The parser caps its own list (100 and a count); a header of thousands of unknown columns is capped here.
            var issues = error.issues.count > ImportFileError.maximumIssues + 1 ? Array(error.issues.prefix(ImportFileError.maximumIssues)) : error.issues
            if error.issues.count > issues.count {
                issues.append(ImportFileIssue(line: nil, code: "more_problems", message: "… and \(error.issues.count - issues.count) more problems."))
            }
            throw RosterError(.invalidFile, issues.map { ($0.line.map { "line \($0): " } ?? "") + $0.message }.joined(separator: " "),
                              issues: issues.map { FieldIssue(field: $0.line.map { "line \($0)" } ?? "file", message: "\($0.code): \($0.message)") })
        }
    }
}

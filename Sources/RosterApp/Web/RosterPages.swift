import Vapor
import Fluent
import RosterCore
import RosterStore

/// The pages of one roster (an organization's or a space's): members with search, filters and paging, the
/// invite form and per-row actions, join-request review, and the CSV import with its report.
struct RosterPages: Sendable {
    let scope: @Sendable (Request) async throws -> ScopeContext
    /// The roster's web path (`/orgs/SLUG` or `/spaces/ID`).
    let base: @Sendable (ScopeContext) -> String

    func register(on routes: any RoutesBuilder) {
        routes.get(use: members)
        routes.post("members", use: invite)
        routes.post("members", ":id", ":action", use: memberAction)
        routes.get("join-requests", use: joinRequests)
        routes.post("join-requests", ":id", ":action", use: review)
        routes.get("import", use: importPage)
        // Streamed: the session, the form's origin and the permission are checked before the body is read.
        routes.on(.POST, "import", body: .stream, use: runImport)
        routes.get("import", "template.csv", use: template)
        routes.get("imports", ":import", "failures.csv", use: failures)
    }

    // MARK: Members

    struct Heading: Encodable {
        var name: String; var org: String; var orgSlug: String; var isSpace: Bool; var base: String
        var canInvite: Bool; var canReview: Bool; var canImport: Bool; var canAudit: Bool; var canManageWebhooks: Bool
        var canManageDomains: Bool
        /// A signed-in owner (who manages the organization's API keys).
        var isOwner: Bool
    }

    func heading(_ context: ScopeContext) -> Heading {
        let p = context.authority.permissions
        return Heading(name: context.spaceName ?? context.org.name, org: context.org.name, orgSlug: context.org.slug,
                       isSpace: context.scope.spaceID != nil, base: base(context), canInvite: p.contains(.membersInvite),
                       canReview: p.contains(.requestsReview), canImport: p.contains(.importsRun), canAudit: p.contains(.auditRead),
                       canManageWebhooks: p.contains(.webhooksManage), canManageDomains: p.contains(.domainsManage), isOwner: context.authority.isOwner && context.account != nil)
    }

    struct Role: Encodable { var key: String; var name: String }
    struct Member: Encodable {
        var id: String; var email: String; var name: String; var role: String; var roleKey: String; var status: String; var source: String
        var externalID: String; var delivery: String; var deliveryFailed: Bool; var deliveryError: String
        var canResend: Bool; var endLabel: String
    }
    struct MembersPage: Encodable {
        var frame: WebPages.Frame; var roster: Heading; var roles: [Role]; var members: [Member]; var q: String; var status: String
        var nextPage: String?; var statuses: [String]; var showExternalID: Bool
        /// The invite link the list is narrowed to (empty: none).
        var inviteLink: String
    }

    struct Filter: Content { var q: String?; var status: String?; var cursor: String?; var invite_link: String? }

    @Sendable func members(req: Request) async throws -> View {
        let context = try await scope(req)
        let filter = (try? req.query.decode(Filter.self)) ?? Filter()
        let page = try await RosterController(scope: scope).list(req: req)
        let roles = context.ladder.roles.sorted { $0.rank < $1.rank }
        let names = Dictionary(uniqueKeysWithValues: roles.map { ($0.key, $0.name) })
        let now = Date()
        let members = page.items.map { m in
            let failed = m.delivery?.status == "failed_permanent" || m.delivery?.status == "failed_transient"
            var delivery = m.delivery.map { $0.status.replacingOccurrences(of: "_", with: " ") } ?? ""
            // Held back by the organization's invitation budget.
            if let at = m.delivery?.scheduledAt, at > now { delivery += " until " + EmailTemplates.utcTimestamp(at) }
            return Member(id: m.id.uuidString.lowercased(), email: m.email, name: m.name ?? "", role: names[m.role] ?? m.role, roleKey: m.role, status: m.status,
                          source: m.source.replacingOccurrences(of: "_", with: " "), externalID: m.externalID ?? "",
                          delivery: delivery, deliveryFailed: failed,
                          deliveryError: m.delivery?.lastError ?? "", canResend: (m.status == "pending" || m.status == "expired") && m.source == "invitation",
                          endLabel: m.status == "pending" ? "Revoke" : "Remove")
        }
        return try await req.view.render("web/members", MembersPage(
            frame: WebPages.frame(req, context.spaceName ?? context.org.name), roster: heading(context),
            roles: roles.filter { context.authority.outranks($0) }.map { Role(key: $0.key, name: $0.name) }, members: members,
            q: filter.q ?? "", status: filter.status ?? "",
            nextPage: page.nextCursor.map { base(context) + "?q=" + WebPages.queryValue(filter.q ?? "") + "&status=" + WebPages.queryValue(filter.status ?? "")
                + (filter.invite_link.map { "&invite_link=" + WebPages.queryValue($0) } ?? "") + "&cursor=" + WebPages.queryValue($0) },
            statuses: ["", "active", "pending", "declined", "revoked", "expired", "removed", "left"],
            showExternalID: members.contains { !$0.externalID.isEmpty }, inviteLink: filter.invite_link ?? ""))
    }

    struct InviteForm: Content { var email: String?; var role: String?; var name: String?; var external_id: String? }

    @Sendable func invite(req: Request) async throws -> Response {
        let context = try await scope(req)
        let form = try req.content.decode(InviteForm.self)
        return try await WebPages.perform(req, back: base(context)) {
            let body = InviteMemberRequest(email: form.email ?? "", role: form.role.flatMap { $0.isEmpty ? nil : $0 },
                                           name: form.name.flatMap { $0.isEmpty ? nil : $0 }, externalID: form.external_id.flatMap { $0.isEmpty ? nil : $0 })
            let row = try await MembershipUseCases(req: req, context: context).invite(body)
            return (nil, row.status == MembershipStatus.active.rawValue ? "Added \(row.email)." : "Invited \(row.email). They join once they accept.")
        }
    }

    struct RoleForm: Content { var role: String? }
    struct ResendForm: Content { var email: String? }

    @Sendable func memberAction(req: Request) async throws -> Response {
        let context = try await scope(req)
        let id = try req.uuidParameter("id")
        let actions = MembershipUseCases(req: req, context: context)
        return try await WebPages.perform(req, back: base(context)) {
            switch req.parameters.get("action") {
            case "role":
                let role = (try? req.content.decode(RoleForm.self))?.role ?? ""
                let row = try await actions.update(id: id, UpdateMemberRequest(role: role))
                return (nil, "\(row.email) is now \(context.ladder.role(row.roleKey)?.name ?? row.roleKey).")
            case "remove":
                try await actions.remove(id: id)
                return (nil, "Done: the row is no longer live.")
            case "resend":
                let raw = (try? req.content.decode(ResendForm.self))?.email?.trimmingCharacters(in: .whitespaces) ?? ""
                let corrected = raw.isEmpty ? nil : try MemberFields.email(raw, field: "Email")
                let row = try await actions.resend(id: id, to: corrected)
                return (nil, row.id == id ? "Sent a new invitation link to \(row.email)." : "Invited \(row.email) instead; the old invitation is revoked.")
            default:
                throw RosterError.notFound
            }
        }
    }

    // MARK: Join requests

    struct RequestItem: Encodable { var id: String; var email: String; var name: String; var message: String; var requested: String }
    struct RequestsPage: Encodable { var frame: WebPages.Frame; var roster: Heading; var roles: [Role]; var requests: [RequestItem]; var noRequests: Bool }

    @Sendable func joinRequests(req: Request) async throws -> View {
        let context = try await scope(req)
        let page = try await RosterController(scope: scope).listRequests(req: req)
        let roles = context.ladder.roles.sorted { $0.rank < $1.rank }.filter { context.authority.outranks($0) }
        return try await req.view.render("web/join-requests", RequestsPage(
            frame: WebPages.frame(req, "Join requests · \(context.spaceName ?? context.org.name)"), roster: heading(context),
            roles: roles.map { Role(key: $0.key, name: $0.name) },
            requests: page.items.map { RequestItem(id: $0.id.uuidString.lowercased(), email: $0.email, name: $0.name ?? "", message: $0.message ?? "",
                                                   requested: EmailTemplates.utcTimestamp($0.createdAt)) },
            noRequests: page.items.isEmpty))
    }

    @Sendable func review(req: Request) async throws -> Response {
        let context = try await scope(req)
        let id = try req.uuidParameter("id")
        let approve: Bool
        switch req.parameters.get("action") {
        case "approve": approve = true
        case "reject": approve = false
        default: throw RosterError.notFound
        }
        return try await WebPages.perform(req, back: base(context) + "/join-requests") {
            let role = (try? req.content.decode(RoleForm.self))?.role.flatMap { $0.isEmpty ? nil : $0 }
            let row = try await MembershipUseCases(req: req, context: context).review(id: id, approve: approve, roleKey: role)
            return (nil, approve ? "\(row.email) is now a member." : "Request from \(row.email) rejected.")
        }
    }

    // MARK: Import

    struct ImportPage: Encodable {
        var frame: WebPages.Frame; var roster: Heading; var columns: String
        var report: ReportView?
        /// After a preview: the previewed file (base64), so "Import this file" needs no second upload.
        var previewed: String?
        /// Whether the last run was a sync, and its threshold (carried into "Import this file").
        var sync: Bool
        var changeThreshold: Int
    }

    /// Largest file a preview carries along for applying it without a second upload.
    static let maximumCarriedBytes = 8 * 1024 * 1024

    @Sendable func importPage(req: Request) async throws -> View {
        let context = try await scope(req)
        try context.authority.require(.importsRun)
        return try await req.view.render("web/import", ImportPage(
            frame: WebPages.frame(req, "Import · \(context.spaceName ?? context.org.name)"), roster: heading(context),
            columns: templateHeader(context).joined(separator: ", "), report: nil, previewed: nil, sync: false,
            changeThreshold: SyncOptions.defaultChangeThreshold))
    }

    struct ImportForm: Content { var file: File?; var previewed: String?; var mode: String?; var sync: String?; var change_threshold: String? }

    @Sendable func runImport(req: Request) async throws -> Response {
        try req.requireSameOrigin()
        let context = try await scope(req)
        try RosterImport.authorize(context)
        try await RosterImport.collectUpload(req, maximumBytes: RosterImportController.maximumBytes)
        try req.requireCSRF()
        let form: ImportForm
        do { form = try req.content.decode(ImportForm.self) } catch {
            return req.redirect(to: base(context) + "/import", error: "The upload could not be read; choose the file again.")
        }
        let data: Data
        if let file = form.file, file.data.readableBytes > 0 {
            data = Data(file.data.readableBytesView)
        } else if let previewed = form.previewed.flatMap({ Data(base64Encoded: $0) }), !previewed.isEmpty {
            data = previewed
        } else {
            return req.redirect(to: base(context) + "/import", error: "Choose a CSV file first.")
        }
        let dryRun = form.mode != "apply"
        var changeThreshold: Int?
        if form.sync == "on" {
            let raw = (form.change_threshold ?? "").trimmingCharacters(in: .whitespaces)
            guard raw.isEmpty || Int(raw).map({ (0...100).contains($0) }) == true else {
                return req.redirect(to: base(context) + "/import", error: "The change threshold must be a whole percentage from 0 to 100.")
            }
            changeThreshold = Int(raw) ?? SyncOptions.defaultChangeThreshold
        }
        let report: ImportReport
        do {
            let (table, columns) = try RosterImport.read(data, definitions: context.attributeDefinitions)
            report = try await RosterImport.run(table: table, columns: columns, context: context, dryRun: dryRun, limits: req.application.roster.limits,
                                                on: req.db, requestID: req.id, changeThreshold: changeThreshold)
        } catch let error as RosterError where error.code == .invalidFile || error.code == .changeThresholdExceeded {
            return req.redirect(to: base(context) + "/import", error: (error.code == .invalidFile ? "The file cannot be imported: " : "") + error.detail)
        }
        RosterImportController.returnFreedMemory()
        let view = try await req.view.render("web/import", ImportPage(
            frame: WebPages.frame(req, (dryRun ? "Preview · " : "Import · ") + (context.spaceName ?? context.org.name)), roster: heading(context),
            columns: templateHeader(context).joined(separator: ", "),
            report: ReportView(report, definitions: context.attributeDefinitions, ladder: context.ladder, failuresPath: base(context) + "/imports/\(report.id?.uuidString.lowercased() ?? "")/failures.csv"),
            previewed: dryRun && data.count <= Self.maximumCarriedBytes ? data.base64EncodedString() : nil,
            sync: changeThreshold != nil, changeThreshold: changeThreshold ?? SyncOptions.defaultChangeThreshold))
        return try await view.encodeResponse(for: req)
    }

    func templateHeader(_ context: ScopeContext) -> [String] {
        ["email", "name", "role", "external_id"] + context.attributeDefinitions.map(\.key)
    }

    @Sendable func template(req: Request) async throws -> Response {
        let context = try await scope(req)
        try context.authority.require(.importsRun)
        let example = ["ada@example.com", "Ada Lovelace", context.ladder.lowest?.key ?? "", "S-0001"]
            + context.attributeDefinitions.map { $0.default ?? $0.values?.first ?? "false" }
        return RosterImportController.csvDownload(templateHeader(context).joined(separator: ",") + "\r\n"
            + example.map(CSVTable.cell).joined(separator: ",") + "\r\n", filename: "roster-template.csv")
    }

    @Sendable func failures(req: Request) async throws -> Response {
        try await RosterImportController(scope: scope).failures(req: req)
    }
}

/// An import report as the page shows it: sections, updated rows first with their previous values, optional
/// columns only when some row needs them, and a one-line summary.
struct ReportView: Encodable {
    struct Row: Encodable {
        var line: Int; var email: String; var name: String; var role: String; var externalID: String; var attributes: [String]
        var reason: String; var updated: Bool; var previously: String; var undeliverable: Bool
    }
    struct Section: Encodable { var id: String; var title: String; var rows: [Row]; var caption: String? }

    struct Ended: Encodable { var email: String; var role: String; var externalID: String; var reason: String }
    struct SyncSection: Encodable { var id: String; var title: String; var rows: [Ended] }

    var dryRun: Bool
    var summary: String
    var sections: [Section]
    /// A sync's endings and kept rows, shown before the rows.
    var syncSections: [SyncSection]
    var syncNote: String?
    var showExternalID: Bool
    var attributeKeys: [String]
    var failuresPath: String?

    init(_ report: ImportReport, definitions: [AttributeDefinition], ladder: RoleLadder, failuresPath: String) {
        dryRun = report.dryRun
        let s = report.summary
        let failed = s.failed + s.failedToSend
        summary = "\(failed) failed. \(s.invited) invited, \(s.added) added, \(s.alreadyInvited + s.alreadyMember) already in the roster."
            + (s.updated > 0 ? " \(s.updated) updated." : "")
        showExternalID = report.rows.contains { $0.externalID != nil }
        attributeKeys = definitions.map(\.key)
        self.failuresPath = failed > 0 && !report.dryRun ? failuresPath : nil
        func row(_ r: ImportRowReport) -> Row {
            Row(line: r.line, email: r.email, name: r.name ?? "", role: r.role.flatMap { ladder.role($0)?.name } ?? r.role ?? "",
                externalID: r.externalID ?? "", attributes: definitions.map { r.attributes[$0.key] ?? "" },
                reason: r.outcome == .failedToSend ? Self.words("failed_to_send") : r.reason.map { Self.words($0.rawValue) } ?? "",
                updated: r.updated, previously: r.updated ? "Previously: external ID \(r.previousExternalID ?? "none")" : "",
                undeliverable: r.outcome == .failedToSend)
        }
        func section(_ id: String, _ title: String, _ outcomes: Set<ImportOutcome>) -> Section? {
            let rows = report.rows.filter { outcomes.contains($0.outcome) }.sorted { ($0.updated ? 0 : 1, $0.line) < ($1.updated ? 0 : 1, $1.line) }
            return rows.isEmpty ? nil : Section(id: id, title: title, rows: rows.map(row), caption: nil)
        }
        var failedSection = section("failed", "Failed", [.failed, .failedToSend])
        if s.failedToSend > 0 {
            failedSection?.caption = "\(s.failedToSend) invitation\(s.failedToSend == 1 ? "" : "s") could not be delivered (in red): correct the address and resend."
        }
        func ended(_ rows: [SyncRow]) -> [Ended] {
            rows.map { Ended(email: $0.email, role: ladder.role($0.role)?.name ?? $0.role, externalID: $0.externalID ?? "", reason: Self.words($0.reason)) }
        }
        syncSections = []
        if let sync = report.sync {
            let would = report.dryRun ? "Would be " : ""
            syncSections = [
                SyncSection(id: "removed", title: would.isEmpty ? "Removed" : would + "removed", rows: ended(sync.removed)),
                SyncSection(id: "revoked", title: (would.isEmpty ? "Invitations revoked" : "Invitations that would be revoked"), rows: ended(sync.revoked)),
                SyncSection(id: "kept", title: "Not in the file, kept", rows: ended(sync.kept)),
            ].filter { !$0.rows.isEmpty }
            syncNote = sync.exceeded
                ? "This sync would end \(sync.ending) of \(sync.live) memberships, more than the \(sync.changeThreshold)% threshold: importing it is refused unless you raise the threshold."
                : "Sync: \(sync.removed.count) removed, \(sync.revoked.count) invitation\(sync.revoked.count == 1 ? "" : "s") revoked, "
                    + "\(sync.kept.count) kept although not in the file."
        }
        sections = [failedSection, section("invited", "New invitations", [.invited]), section("added", "Added", [.added]),
                    section("already-invited", "Already invited", [.alreadyInvited]), section("already-members", "Already members", [.alreadyMember])]
            .compactMap { $0 }
    }

    /// A reason code in words.
    static func words(_ code: String) -> String {
        switch code {
        case "missing_email": "No email address in this row"
        case "invalid_email": "Not a valid email address"
        case "duplicate_email_in_file": "This email address appears on an earlier line"
        case "duplicate_external_id_in_file": "This external ID appears on an earlier line"
        case "external_id_taken": "This external ID belongs to someone else in the roster"
        case "unknown_role": "No such role in this roster"
        case "role_not_allowed": "You may not grant this role"
        case "invalid_attribute": "An attribute value is not allowed"
        case "invalid_name": "The name is too long or holds a line break or control character"
        case "invalid_external_id": "The external ID is longer than 200 characters"
        case "seat_limit": "No seats left"
        case "failed_to_send": "The invitation email could not be delivered"
        case "not_in_file": "Not in the file"
        case "owner": "An owner (a sync never ends an owner)"
        case "importer": "You (a sync never ends its importer)"
        case "join_request": "A pending join request (review it instead)"
        case "not_permitted": "Beyond your role: you may not end it"
        default: code.replacingOccurrences(of: "_", with: " ")
        }
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// Invite links on the web: a roster's links (`{base}/invite-links`: create — the URL shown once —, list, revoke) for
/// holders of `members.invite`, and `/j/{code}`, where whoever holds a link sees what it offers and joins. The same
/// use cases as the API (`InviteLinks`).
struct InviteLinkPages: Sendable {
    let scope: @Sendable (Request) async throws -> ScopeContext
    let base: @Sendable (ScopeContext) -> String

    /// The roster's pages (under `/orgs/{org}` or `/spaces/{space}`).
    func register(on routes: any RoutesBuilder) {
        routes.get("invite-links", use: page)
        routes.post("invite-links", use: create)
        routes.post("invite-links", ":link", "revoke", use: revoke)
    }

    struct Link: Encodable {
        var id: String; var role: String; var uses: String; var expires: String; var domains: String; var approval: Bool; var state: String
    }
    struct Role: Encodable { var key: String; var name: String }
    struct Page: Encodable {
        var frame: WebPages.Frame; var roster: RosterPages.Heading; var links: [Link]; var roles: [Role]; var newURL: String?
        /// The page of older links, when there are more.
        var next: String?
    }

    /// The page of links after `?cursor=` (newest first, 50 a page; a cursor that is none of this roster's links
    /// shows the first page).
    func render(_ req: Request, _ context: ScopeContext, newURL: String? = nil) async throws -> Response {
        let links = InviteLinks(req: req, context: context)
        let cursor = req.query[String.self, at: "cursor"].flatMap { try? PageCursor.decode($0).id }
        var page: (links: [InviteLinkModel], next: UUID?)?
        if let cursor { page = try? await links.page(after: cursor, limit: 50) }
        let (shown, next) = if let page { page } else { try await links.page(after: nil, limit: 50) }
        let names = Dictionary(uniqueKeysWithValues: context.ladder.roles.map { ($0.key, $0.name) })
        let now = Date()
        let rows = shown.map { link in
            Link(id: link.id?.uuidString.lowercased() ?? "", role: names[link.roleKey] ?? link.roleKey,
                 uses: link.maxUses.map { "\(link.uses) of \($0)" } ?? "\(link.uses)",
                 expires: link.expiresAt.map { EmailTemplates.utcTimestamp($0) } ?? "never",
                 domains: link.facts.map { $0.allowedDomains.isEmpty ? "any" : $0.allowedDomains.joined(separator: ", ") } ?? "any",
                 approval: link.requiresApproval, state: link.facts?.state(now: now).rawValue ?? "revoked")
        }
        let grantable = context.ladder.roles.filter { !$0.isOwner && context.authority.outranks($0) }.sorted { $0.rank < $1.rank }
        let view = try await req.view.render("web/invite-links", Page(
            frame: WebPages.frame(req, "Invite links · \(context.spaceName ?? context.org.name)"),
            roster: RosterPages(scope: scope, base: base).heading(context), links: rows,
            roles: grantable.map { Role(key: $0.key, name: $0.name) }, newURL: newURL,
            next: next.map { PageCursor(key: "", id: $0).encoded }))
        return try await view.encodeResponse(for: req)
    }

    @Sendable func page(req: Request) async throws -> Response {
        let context = try await scope(req)
        try context.authority.require(.membersInvite)
        return try await render(req, context)
    }

    struct Form: Content {
        var role: String?; var max_uses: String?; var expires_in_days: String?; var allowed_email_domains: String?; var requires_approval: String?
    }

    /// Creates a link and answers with the page showing its URL (not a redirect: the code is not kept).
    @Sendable func create(req: Request) async throws -> Response {
        let context = try await scope(req)
        return try await WebPages.answer(req, back: base(context) + "/invite-links") {
            let form = try req.content.decode(Form.self)
            func number(_ raw: String?, _ field: String) throws(RosterError) -> Int? {
                guard let raw = raw?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
                guard let value = Int(raw) else { throw RosterError.validation([FieldIssue(field: field, message: "must be a whole number")]) }
                return value
            }
            let days = try number(form.expires_in_days, "Expires after (days)")
            if let days, !(1...365).contains(days) {
                throw RosterError.validation([FieldIssue(field: "Expires after (days)", message: "must be from 1 to 365")])
            }
            let domains = (form.allowed_email_domains ?? "").split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" }).map(String.init)
            let body = CreateInviteLinkRequest(role: form.role, maxUses: try number(form.max_uses, "Uses"),
                                               expiresAt: days.map { ISO8601DateFormatter().string(from: Date().addingTimeInterval(Double($0) * 86_400)) },
                                               allowedEmailDomains: domains, requiresApproval: form.requires_approval == "on")
            let (_, url) = try await InviteLinks(req: req, context: context).create(body)
            return try await render(req, context, newURL: url)
        }
    }

    @Sendable func revoke(req: Request) async throws -> Response {
        let context = try await scope(req)
        return try await WebPages.perform(req, back: base(context) + "/invite-links") {
            try await InviteLinks(req: req, context: context).revoke(try req.uuidParameter("link"))
            return (nil, "The link is off: it no longer lets anyone join.")
        }
    }

    // MARK: Joining: /j/{code}

    struct JoinPage: Encodable {
        var frame: WebPages.Frame; var code: String; var found: Bool; var usable: Bool; var stateText: String
        var organization: String; var space: String?; var role: String; var approval: Bool; var domains: String
        var signedIn: Bool; var signInPage: String; var signUpPage: String
        /// The signed-in account proved its address (joining needs it).
        var verified: Bool
    }

    /// What a link offers; 404 (with the same friendly page) when there is no such link.
    @Sendable static func joinPage(req: Request) async throws -> Response {
        let code = req.parameters.get("code") ?? ""
        let next = "?next=" + WebPages.queryValue("/j/\(code)")
        var page = JoinPage(frame: WebPages.frame(req, "Invite link"), code: code, found: false, usable: false, stateText: "",
                            organization: "", space: nil, role: "", approval: false, domains: "", signedIn: req.webAccount != nil,
                            signInPage: "/signin" + next, signUpPage: "/signup" + next, verified: req.webAccount?.emailVerifiedAt != nil)
        if let preview = try? await InviteLinks.preview(req, code: code) {
            page.found = true
            page.usable = preview.state == InviteLinkState.usable.rawValue
            let why = InviteLinkState(rawValue: preview.state)?.whyUnusable ?? ""
            // After a join it refused, the page's notice already says why: once is enough.
            page.stateText = page.frame.error == why ? "" : why
            page.organization = preview.organization
            page.space = preview.space
            page.role = preview.role
            page.approval = preview.requiresApproval
            page.domains = preview.allowedEmailDomains.joined(separator: ", ")
            page.frame.title = "Join \(preview.space.map { "\($0) in " } ?? "")\(preview.organization)"
        }
        let response = try await req.view.render("web/join-link", page).encodeResponse(for: req)
        if !page.found { response.status = .notFound }
        return response
    }

    @Sendable static func join(req: Request) async throws -> Response {
        let code = req.parameters.get("code") ?? ""
        guard req.webAccount != nil else { return req.redirect(to: "/signin?next=" + WebPages.queryValue("/j/\(code)")) }
        return try await WebPages.perform(req, back: "/j/\(code)") {
            let row = try await InviteLinks.join(req, code: code)
            let org = try await Directory(req.db).organization(id: row.orgID)
            if row.status == MembershipStatus.pending.rawValue {
                return ("/", "You asked to join \(org?.name ?? "the organization"); a reviewer will answer.")
            }
            guard let spaceID = row.spaceID else { return ("/orgs/\(org?.slug ?? "")", "You joined \(org?.name ?? "the organization").") }
            let space = try await SpaceModel.find(spaceID, on: req.db)
            return ("/spaces/\(spaceID.uuidString.lowercased())", "You joined \(space?.name ?? "the space") in \(org?.name ?? "the organization").")
        }
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// The server-rendered web interface (Leaf views in `Views/web`), at the same origin as the API and built on the
/// same actions: sign-up and sign-in, the home page (my invitations, requests and organizations), the invitation
/// page behind emailed links, and each roster's members, join requests and import pages.
struct WebPages: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let web = routes.grouped(PageHeaders(), WebSession())
        web.get(use: home)
        web.get("signup", use: signUpPage)
        web.post("signup", use: signUp)
        web.get("signin", use: signInPage)
        web.post("signin", use: signIn)
        web.post("signout", use: signOut)
        web.get("forgot-password", use: forgotPasswordPage)
        web.post("forgot-password", use: forgotPassword)
        web.get("reset-password", use: resetPasswordPage)
        web.post("reset-password", use: resetPassword)
        web.get("account", use: accountPage)
        web.post("account", "email", use: changeEmail)
        web.post("orgs", use: createOrganization)
        web.post("invitations", ":id", ":answer", use: answerInvitation)
        web.post("join-requests", ":id", "withdraw", use: withdrawRequest)
        web.get("i", ":token", use: invitationPage)
        web.post("i", ":token", ":answer", use: answerInvitationLink)
        web.get("j", ":code", use: InviteLinkPages.joinPage)
        web.post("j", ":code", use: InviteLinkPages.join)

        let org = web.grouped("orgs", ":org")
        RosterPages(scope: { try await $0.orgScope() }, base: { "/orgs/\($0.org.slug)" }).register(on: org)
        InviteLinkPages(scope: { try await $0.orgScope() }, base: { "/orgs/\($0.org.slug)" }).register(on: org)
        org.get("spaces", use: spacesPage)
        org.post("spaces", use: createSpace)
        org.get("audit", use: auditPage)
        WebhookPages().register(on: org)
        OrganizationKeyPages().register(on: org)
        DomainPages().register(on: org)
        org.get("settings", use: settingsPage)
        org.post("settings", use: saveSettings)
        RosterPages(scope: { try await $0.spaceScope() }, base: { "/spaces/\($0.scope.spaceID?.uuidString.lowercased() ?? "")" })
            .register(on: web.grouped("spaces", ":space"))
        InviteLinkPages(scope: { try await $0.spaceScope() }, base: { "/spaces/\($0.scope.spaceID?.uuidString.lowercased() ?? "")" })
            .register(on: web.grouped("spaces", ":space"))
    }

    // MARK: Frame

    /// What every page shows around its content.
    struct Frame: Encodable {
        var title: String
        var csrf: String
        var account: String?
        var notice: String?
        var error: String?
        /// The fields of a form the previous request refused, by name: the page fills its form with them again.
        var form: [String: String]
    }

    static func frame(_ req: Request, _ title: String) -> Frame {
        let flash = req.flash
        return Frame(title: title, csrf: WebSession.csrfToken(req), account: req.webAccount.map { "\($0.name) (\($0.email))" },
                     notice: flash.notice, error: flash.error, form: flash.form)
    }

    /// A page for an error: the message in words, with the right status (403, 404, …).
    static func errorPage(_ error: any Error, on req: Request) async throws -> Response {
        let status: HTTPResponseStatus, title: String, message: String
        switch error {
        case let problem as RosterError:
            if problem.code == .unauthenticated {
                return req.redirect(to: "/signin?next=" + queryValue(req.method == .GET ? req.url.path : "/"))
            }
            (status, title, message) = (HTTPResponseStatus(statusCode: problem.code.status), problem.code.title, problem.detail)
        case let abort as any AbortError:
            (status, title, message) = (abort.status, abort.status.reasonPhrase, abort.reason)
        case is DecodingError:
            (status, title, message) = (.badRequest, "Bad request", "The form could not be read; reload the page and try again.")
        default:
            throw error
        }
        struct Context: Encodable { var frame: Frame; var message: String }
        let view = try await req.view.render("web/error", Context(frame: frame(req, title), message: message))
        let response = try await view.encodeResponse(for: req)
        response.status = status
        return response
    }

    /// `value` percent-encoded for a query string (everything but letters, digits and `-._~/`).
    static func queryValue(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// Runs a form's action: CSRF first; a refusal becomes a message on `back`, success a redirect with `notice`.
    static func perform(_ req: Request, back: String, _ action: () async throws -> (path: String?, notice: String?)) async throws -> Response {
        try await answer(req, back: back) {
            let (path, notice) = try await action()
            return req.redirect(to: path ?? back, notice: notice)
        }
    }

    /// Runs a form's action that answers with its own page (one showing a secret once): CSRF first; a refusal becomes
    /// a message on `back` (a missing permission or thing stays an error page).
    static func answer(_ req: Request, back: String, _ action: () async throws -> Response) async throws -> Response {
        try req.requireCSRF()
        do {
            return try await action()
        } catch let error as RosterError where error.code != .forbidden && error.code != .notFound {
            // What the person typed comes back with the refusal (a form post's fields; an upload keeps none).
            let typed = (try? req.content.decode([String: String].self, as: .urlEncodedForm)) ?? [:]
            return req.redirect(to: back, error: message(for: error), keeping: typed)
        }
    }

    /// A refusal as a page says it: each invalid field by a readable name (`max_uses` → "Max uses: must be …").
    static func message(for error: RosterError) -> String {
        guard !error.issues.isEmpty else { return error.detail }
        return error.issues.map { issue in
            let name = issue.field.replacingOccurrences(of: "_", with: " ")
            return name.isEmpty ? issue.message : name.prefix(1).uppercased() + name.dropFirst() + ": " + issue.message
        }.joined(separator: "; ")
    }

    /// `accept` or `decline` from the path; any other word is a 404.
    static func answer(_ req: Request) throws -> Bool {
        switch req.parameters.get("answer") {
        case "accept": true
        case "decline": false
        default: throw RosterError.notFound
        }
    }

    static func requireAccount(_ req: Request) throws -> AccountModel {
        guard let account = req.webAccount else { throw RosterError(.unauthenticated, "Sign in first.") }
        return account
    }

    /// A local path to return to after signing in (never another site).
    static func safeNext(_ raw: String?) -> String {
        // Printable ASCII only (browsers drop tabs and line breaks, so "/\t/evil.example" would become "//evil.example"),
        // a single leading slash, and nothing a URL parser reads as a scheme or host.
        guard let raw, raw.hasPrefix("/"), !raw.hasPrefix("//"), !raw.contains("\\"),
              raw.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }),
              let components = URLComponents(string: raw), components.scheme == nil, components.host == nil else { return "/" }
        return raw
    }

    // MARK: Accounts

    struct AccountForm: Content { var name: String?; var email: String?; var password: String?; var next: String? }
    struct AccountPage: Encodable {
        var frame: Frame; var next: String; var email: String; var otherPage: String
        init(frame: Frame, next: String, email: String, other: String) {
            (self.frame, self.next, self.email) = (frame, next, email)
            otherPage = "/\(other)?next=" + WebPages.queryValue(next) + (email.isEmpty ? "" : "&email=" + WebPages.queryValue(email))
        }
    }

    @Sendable func signUpPage(req: Request) async throws -> View {
        let query = try? req.query.decode(AccountForm.self)
        return try await req.view.render("web/signup", AccountPage(frame: Self.frame(req, "Create an account"), next: Self.safeNext(query?.next), email: query?.email ?? "", other: "signin"))
    }

    @Sendable func signUp(req: Request) async throws -> Response {
        let form = try req.content.decode(AccountForm.self)
        let next = Self.safeNext(form.next)
        return try await Self.perform(req, back: "/signup?next=" + Self.queryValue(next)) {
            let body = CreateAccountRequest(email: form.email ?? "", name: form.name ?? "", password: form.password ?? "")
            let account = try await AccountsController.signUp(body, on: req)
            let (token, _, _) = try await AccountsController.signIn(CreateSessionRequest(email: body.email, password: body.password), on: req)
            req.storage[NewSessionKey.self] = token
            return (next, "Welcome, \(account.name). We sent a link to \(account.email) to confirm the address.")
        }.withSession(from: req)
    }

    @Sendable func signInPage(req: Request) async throws -> View {
        let query = try? req.query.decode(AccountForm.self)
        return try await req.view.render("web/signin", AccountPage(frame: Self.frame(req, "Sign in"), next: Self.safeNext(query?.next), email: query?.email ?? "", other: "signup"))
    }

    @Sendable func signIn(req: Request) async throws -> Response {
        let form = try req.content.decode(AccountForm.self)
        let next = Self.safeNext(form.next)
        return try await Self.perform(req, back: "/signin?next=" + Self.queryValue(next)) {
            let (token, _, _) = try await AccountsController.signIn(CreateSessionRequest(email: form.email ?? "", password: form.password ?? ""), on: req)
            req.storage[NewSessionKey.self] = token
            return (next, nil)
        }.withSession(from: req)
    }

    // MARK: Forgotten passwords

    struct EmailPage: Encodable { var frame: Frame; var email: String }
    struct ResetPage: Encodable { var frame: Frame; var token: String }
    struct ResetForm: Content { var email: String?; var token: String?; var password: String? }

    @Sendable func forgotPasswordPage(req: Request) async throws -> View {
        try await req.view.render("web/forgot-password", EmailPage(frame: Self.frame(req, "Forgot your password?"),
                                                                   email: (try? req.query.decode(ResetForm.self))?.email ?? ""))
    }

    @Sendable func forgotPassword(req: Request) async throws -> Response {
        let form = try req.content.decode(ResetForm.self)
        return try await Self.perform(req, back: "/forgot-password") {
            try await AccountsController.requestPasswordReset(email: form.email ?? "", on: req)
            return ("/signin", "If an account has this address, a link to choose a new password is on its way.")
        }
    }

    @Sendable func resetPasswordPage(req: Request) async throws -> View {
        try await req.view.render("web/reset-password", ResetPage(frame: Self.frame(req, "Choose a new password"),
                                                                  token: (try? req.query.decode(ResetForm.self))?.token ?? ""))
    }

    @Sendable func resetPassword(req: Request) async throws -> Response {
        let form = try req.content.decode(ResetForm.self)
        let token = form.token ?? ""
        return try await Self.perform(req, back: "/reset-password?token=" + Self.queryValue(token)) {
            _ = try await AccountsController.confirmPasswordReset(token: token, password: form.password ?? "", on: req)
            return ("/signin", "Your new password is set; sign in with it.")
        }
    }

    // MARK: The account

    struct AccountSettingsPage: Encodable { var frame: Frame; var name: String; var email: String; var verified: Bool }
    struct ChangeEmailForm: Content {
        var email: String?
        var currentPassword: String?
        enum CodingKeys: String, CodingKey {
            case email
            case currentPassword = "current_password"
        }
    }

    @Sendable func accountPage(req: Request) async throws -> View {
        let account = try Self.requireAccount(req)
        return try await req.view.render("web/account", AccountSettingsPage(frame: Self.frame(req, "Your account"), name: account.name, email: account.email,
                                                                    verified: account.emailVerifiedAt != nil))
    }

    @Sendable func changeEmail(req: Request) async throws -> Response {
        let account = try Self.requireAccount(req)
        let form = try req.content.decode(ChangeEmailForm.self)
        return try await Self.perform(req, back: "/account") {
            let address = try await AccountsController.requestEmailChange(of: account, to: form.email ?? "", currentPassword: form.currentPassword ?? "",
                                                                          on: req)
            return ("/account", "A link to confirm \(address) is on its way to it; your account signs in with it once the link is opened.")
        }
    }

    @Sendable func signOut(req: Request) async throws -> Response {
        try req.requireCSRF()
        if case .account(_, let sessionID)? = req.principal {
            try await AccountStore(req.db).deleteSession(sessionID)
        }
        let response = req.redirect(to: "/signin", notice: "Signed out.")
        response.cookies[WebSession.name(WebSession.sessionCookie, on: req)] = WebSession.expired(on: req)
        return response
    }

    // MARK: Home

    struct HomeItem: Encodable {
        var id: UUID; var organization: String; var slug: String; var space: String?; var role: String; var status: String
        var expires: String?
    }
    struct HomePage: Encodable {
        var frame: Frame; var verified: Bool
        var invitations: [HomeItem]; var requests: [HomeItem]; var organizations: [HomeItem]; var suggestions: [DomainSuggestion]
        var noInvitations: Bool; var noRequests: Bool; var noOrganizations: Bool

        init(frame: Frame, verified: Bool, invitations: [HomeItem], requests: [HomeItem], organizations: [HomeItem], suggestions: [DomainSuggestion]) {
            (self.frame, self.verified, self.invitations, self.requests, self.organizations) = (frame, verified, invitations, requests, organizations)
            self.suggestions = suggestions
            (noInvitations, noRequests, noOrganizations) = (invitations.isEmpty, requests.isEmpty, organizations.isEmpty)
        }
    }

    @Sendable func home(req: Request) async throws -> View {
        let account = try Self.requireAccount(req)
        let my = MyRosterController()
        let pages = [try await my.invitations(req: req), try await my.joinRequests(req: req), try await my.memberships(req: req)]
        let spaceIDs = Set(pages.flatMap { $0.items.compactMap(\.membership.spaceID) })
        let spaces = try await Directory(req.db).spaces(ids: spaceIDs)
        let spaceNames = Dictionary(uniqueKeysWithValues: spaces.compactMap { space in space.id.map { ($0, space.name) } })
        func items(_ page: Page<MyRosterController.MyMembership>) -> [HomeItem] {
            page.items.map {
                let organization = $0.organization.name
                let space = $0.membership.spaceID.flatMap { spaceNames[$0] }
                return HomeItem(id: $0.membership.id, organization: space.map { "\($0) in \(organization)" } ?? organization,
                                slug: $0.organization.slug, space: $0.membership.spaceID?.uuidString.lowercased(),
                                role: $0.membership.role, status: $0.membership.status, expires: $0.membership.expiresAt.map(EmailTemplates.utcTimestamp))
            }
        }
        return try await req.view.render("web/home", HomePage(
            frame: Self.frame(req, "Home"), verified: account.emailVerifiedAt != nil,
            invitations: items(pages[0]), requests: items(pages[1]), organizations: items(pages[2]),
            suggestions: try await DomainsController.suggestions(for: account, on: req.db)))
    }

    struct NameForm: Content { var name: String? }

    @Sendable func createOrganization(req: Request) async throws -> Response {
        let account = try Self.requireAccount(req)
        let form = try req.content.decode(NameForm.self)
        return try await Self.perform(req, back: "/") {
            let name = try OrganizationRules.name(form.name ?? "", field: "Name").mapError { RosterError.validation([$0]) }.get()
            let org = try await OrganizationLifecycle.create(name: name, slug: nil, description: "", settings: ScopeSettings(),
                                                             creator: account, requestID: req.id, on: req.db)
            return ("/orgs/\(org.slug)", "Created \(org.name). You are its owner.")
        }
    }

    @Sendable func answerInvitation(req: Request) async throws -> Response {
        _ = try Self.requireAccount(req)
        let id = try req.uuidParameter("id")
        let accept = try Self.answer(req)
        return try await Self.perform(req, back: "/") {
            _ = try await InviteeUseCases(req: req, account: try Self.requireAccount(req)).respond(to: .id(id), accept: accept)
            return ("/", accept ? "You joined." : "Invitation declined.")
        }
    }

    @Sendable func withdrawRequest(req: Request) async throws -> Response {
        let account = try Self.requireAccount(req)
        let id = try req.uuidParameter("id")
        return try await Self.perform(req, back: "/") {
            guard let row = try await PersonalRoster(req.db).row(id: id), row.accountID == account.id else { throw RosterError.notFound }
            // The request's own roster: its space, or its organization.
            if let spaceID = row.spaceID { req.parameters.set("space", to: spaceID.uuidString) } else { req.parameters.set("org", to: row.orgID.uuidString) }
            let context = try await row.spaceID == nil ? req.orgScope() : req.spaceScope()
            try await MembershipUseCases(req: req, context: context).withdraw(id: id)
            return ("/", "Request withdrawn.")
        }
    }

    // MARK: The invitation link

    struct InvitationPage: Encodable {
        var frame: Frame; var token: String; var valid: Bool; var organization: String?; var space: String?; var role: String?
        var inviter: String?; var expires: String?; var email: String?; var signedIn: Bool; var otherAccount: Bool
        var signInPage: String; var signUpPage: String
    }

    @Sendable func invitationPage(req: Request) async throws -> View {
        let token = req.parameters.get("token") ?? ""
        let next = "?next=" + Self.queryValue("/i/\(token)")
        var page = InvitationPage(frame: Self.frame(req, "Invitation"), token: token, valid: false, signedIn: req.webAccount != nil,
                                  otherAccount: false, signInPage: "/signin" + next, signUpPage: "/signup" + next)
        if let preview = try? await InvitationsController().preview(req: req) {
            page.valid = true
            page.organization = preview.organization.name
            page.space = preview.space?.name
            page.role = preview.role.name
            page.inviter = preview.inviterName
            page.expires = preview.expiresAt.map(EmailTemplates.utcTimestamp)
            page.email = preview.email
            page.signInPage += "&email=" + Self.queryValue(preview.email)
            page.signUpPage += "&email=" + Self.queryValue(preview.email)
            page.otherAccount = req.webAccount.map { $0.email != preview.email } ?? false
            page.frame.title = "Invitation to \(preview.organization.name)"
        }
        return try await req.view.render("web/invitation", page)
    }

    @Sendable func answerInvitationLink(req: Request) async throws -> Response {
        let token = req.parameters.get("token") ?? ""
        guard req.webAccount != nil else { return req.redirect(to: "/signin?next=" + Self.queryValue("/i/\(token)")) }
        let accept = try Self.answer(req)
        return try await Self.perform(req, back: "/i/\(token)") {
            let row = try await InviteeUseCases(req: req, account: try Self.requireAccount(req)).respond(to: .token(Secret.hash(token)), accept: accept)
            let org = try await Directory(req.db).organization(id: row.orgID)
            return ("/", accept ? "You joined \(org?.name ?? "the organization")." : "Invitation declined.")
        }
    }

    // MARK: Organization pages

    struct SpaceItem: Encodable { var id: String; var name: String; var kind: String; var slug: String }
    struct SpacesPage: Encodable { var frame: Frame; var org: String; var slug: String; var spaces: [SpaceItem]; var noSpaces: Bool; var canCreate: Bool }

    @Sendable func spacesPage(req: Request) async throws -> View {
        let context = try await req.orgScope()
        let spaces = try await SpacesController().list(req: req)
        return try await req.view.render("web/spaces", SpacesPage(
            frame: Self.frame(req, "Spaces of \(context.org.name)"), org: context.org.name, slug: context.org.slug,
            spaces: spaces.items.map { SpaceItem(id: $0.id.uuidString.lowercased(), name: $0.name, kind: $0.kind, slug: $0.slug) },
            noSpaces: spaces.items.isEmpty, canCreate: context.authority.permissions.contains(.spacesCreate)))
    }

    struct SpaceForm: Content { var name: String?; var kind: String? }

    @Sendable func createSpace(req: Request) async throws -> Response {
        let context = try await req.orgScope()
        let form = try req.content.decode(SpaceForm.self)
        return try await Self.perform(req, back: "/orgs/\(context.org.slug)/spaces") {
            let space = try await SpaceUseCases(req: req, context: context).create(SpaceRequest(name: form.name, kind: form.kind))
            return ("/spaces/\(try space.requireID().uuidString.lowercased())", "Created \(space.name).")
        }
    }

    struct AuditItem: Encodable { var at: String; var action: String; var actor: String; var target: String }
    struct AuditPage: Encodable { var frame: Frame; var org: String; var slug: String; var events: [AuditItem]; var next: String? }

    @Sendable func auditPage(req: Request) async throws -> View {
        let context = try await req.orgScope()
        let page = try await OrganizationsController().audit(req: req)
        return try await req.view.render("web/audit", AuditPage(
            frame: Self.frame(req, "Audit log of \(context.org.name)"), org: context.org.name, slug: context.org.slug,
            events: page.items.map { AuditItem(at: EmailTemplates.utcTimestamp($0.at), action: $0.action, actor: $0.actor.type,
                                               target: $0.target.email ?? "") },
            next: page.nextCursor))
    }

    struct SettingsPage: Encodable {
        var frame: Frame; var org: String; var slug: String; var joinPolicy: String; var addPolicy: String; var seatLimit: String
        var ttl: Int; var roles: [RoleItem]; var canManage: Bool
    }
    struct RoleItem: Encodable { var key: String; var name: String; var permissions: String }
    struct SettingsForm: Content { var join_policy: String?; var add_policy: String?; var seat_limit: String?; var invitation_ttl_days: String? }

    @Sendable func settingsPage(req: Request) async throws -> View {
        let context = try await req.orgScope()
        try context.authority.require(.scopeRead)
        let s = context.settings
        return try await req.view.render("web/settings", SettingsPage(
            frame: Self.frame(req, "Settings of \(context.org.name)"), org: context.org.name, slug: context.org.slug,
            joinPolicy: s.joinPolicy.rawValue, addPolicy: s.addPolicy.rawValue, seatLimit: s.seatLimit.map(String.init) ?? "",
            ttl: s.invitationTTLDays,
            roles: context.ladder.roles.sorted { $0.rank > $1.rank }.map {
                RoleItem(key: $0.key, name: $0.name, permissions: $0.permissions.map(\.rawValue).sorted().joined(separator: ", "))
            },
            canManage: context.authority.permissions.contains(.scopeManage)))
    }

    @Sendable func saveSettings(req: Request) async throws -> Response {
        let context = try await req.orgScope()
        let form = try req.content.decode(SettingsForm.self)
        return try await Self.perform(req, back: "/orgs/\(context.org.slug)/settings") {
            var patch = SettingsPatch()
            patch.joinPolicy = form.join_policy.flatMap(JoinPolicy.init(rawValue:))
            patch.addPolicy = form.add_policy.flatMap(AddPolicy.init(rawValue:))
            if let raw = form.seat_limit?.trimmingCharacters(in: .whitespaces) {
                guard raw.isEmpty || Int(raw) != nil else { throw RosterError.validation([FieldIssue(field: "Seat limit", message: "must be a whole number or empty")]) }
                patch.seatLimit = .some(Int(raw))
            }
            patch.invitationTTLDays = form.invitation_ttl_days.flatMap { Int($0) }
            _ = try await OrganizationUseCases(req: req, context: context).update(UpdateOrganizationRequest(settings: patch))
            return (nil, "Settings saved.")
        }
    }
}

private struct NewSessionKey: StorageKey { typealias Value = String }

private extension Response {
    /// Sets the session cookie when the action signed someone in, with a fresh CSRF token (one planted before
    /// sign-in is worth nothing after it).
    func withSession(from req: Request) -> Response {
        if let token = req.storage[NewSessionKey.self] {
            cookies[WebSession.name(WebSession.sessionCookie, on: req)] = WebSession.cookie(token, on: req, maxAge: Int(AccountsController.sessionLifetime))
            cookies[WebSession.name(WebSession.csrfCookie, on: req)] = WebSession.cookie(Secret.generate(), on: req, maxAge: nil)
        }
        return self
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// `/orgs/{org}/domains`: an organization's email domains on the web (holders of `domains.manage`): add one, see the
/// TXT record to publish, verify it, choose its policy, remove it — the same use cases as the API
/// (`OrganizationDomains`). And `POST /orgs/{org}/request-to-join`, the home page's button for a suggested
/// organization.
struct DomainPages: Sendable {
    func register(on org: any RoutesBuilder) {
        org.get("domains", use: page)
        org.post("domains", use: add)
        org.post("domains", ":domain", "verify", use: verify)
        org.post("domains", ":domain", "policy", use: update)
        org.post("domains", ":domain", "remove", use: remove)
        org.post("request-to-join", use: requestToJoin)
    }

    struct Domain: Encodable {
        var id: String; var domain: String; var verified: Bool; var policy: String; var role: String; var roleKey: String; var record: String
        var checked: String; var checkResult: String
        /// Existing accounts of the domain are still joining (in the background).
        var joining: Bool
    }
    struct Option: Encodable { var value: String; var label: String }
    struct Page: Encodable {
        var frame: WebPages.Frame; var org: String; var slug: String; var domains: [Domain]; var policies: [Option]; var roles: [Option]
    }

    private func domains(_ req: Request) async throws -> OrganizationDomains {
        try OrganizationDomains(context: try await req.orgScope(), db: req.db, resolver: req.application.roster.txtResolver,
                                limits: req.application.roster.limits, requestID: req.id)
    }

    private func back(_ domains: OrganizationDomains) -> String { "/orgs/\(domains.context.org.slug)/domains" }

    @Sendable func page(req: Request) async throws -> View {
        let domains = try await domains(req)
        let ladder = domains.context.ladder
        let rows = try await domains.all().map { model in
            Domain(id: model.id?.uuidString.lowercased() ?? "", domain: model.domain, verified: model.verifiedAt != nil, policy: model.policy,
                   role: model.roleKey.flatMap { ladder.role($0)?.name } ?? "", roleKey: model.roleKey ?? "",
                   record: DomainVerification.record(token: model.token),
                   checked: model.checkedAt.map(EmailTemplates.utcTimestamp) ?? "never", checkResult: model.checkResult ?? "",
                   joining: model.backfillAfter != nil)
        }
        let org = domains.context.org
        return try await req.view.render("web/domains", Page(
            frame: WebPages.frame(req, "Domains of \(org.name)"), org: org.name, slug: org.slug, domains: rows,
            policies: [Option(value: "suggest", label: "Suggest — shown on their home page"),
                       Option(value: "request", label: "Request — they may ask to join"),
                       Option(value: "auto", label: "Automatic — they join at once")],
            // The roles a domain may join people in: below owner, and ones the viewer may grant.
            roles: ladder.roles.filter { !$0.isOwner && domains.context.authority.outranks($0) }.sorted { $0.rank < $1.rank }
                .map { Option(value: $0.key, label: $0.name) }))
    }

    struct Form: Content {
        var domain: String?; var policy: String?; var role: String?
        /// The form's role, which is the one for automatic joins: taken under `auto` only (a form always sends one;
        /// under another policy the domain keeps the role it had).
        var autoRole: String? { policy == DomainPolicy.auto.rawValue && role?.isEmpty == false ? role : nil }
    }

    @Sendable func add(req: Request) async throws -> Response {
        let domains = try await domains(req)
        return try await WebPages.perform(req, back: back(domains)) {
            let form = try req.content.decode(Form.self)
            let model = try await domains.add(domain: form.domain ?? "", policy: form.policy, role: form.autoRole)
            return (nil, "Added \(model.domain). Publish its TXT record, then verify it.")
        }
    }

    @Sendable func verify(req: Request) async throws -> Response {
        let domains = try await domains(req)
        return try await WebPages.perform(req, back: back(domains)) {
            let model = try await domains.verify(try req.uuidParameter("domain"))
            return (nil, "\(model.domain) is verified.")
        }
    }

    @Sendable func update(req: Request) async throws -> Response {
        let domains = try await domains(req)
        return try await WebPages.perform(req, back: back(domains)) {
            let form = try req.content.decode(Form.self)
            let model = try await domains.update(try req.uuidParameter("domain"), policy: form.policy, role: form.autoRole)
            return (nil, "\(model.domain): policy \(model.policy).")
        }
    }

    @Sendable func remove(req: Request) async throws -> Response {
        let domains = try await domains(req)
        return try await WebPages.perform(req, back: back(domains)) {
            try await domains.remove(try req.uuidParameter("domain"))
            return (nil, "Removed the domain. Members who joined through it stay.")
        }
    }

    /// Asks to join a suggested organization (the same use case as `POST /v1/orgs/{org}/join-requests`).
    @Sendable func requestToJoin(req: Request) async throws -> Response {
        _ = try WebPages.requireAccount(req)
        return try await WebPages.perform(req, back: "/") {
            let context = try await req.orgScope()
            _ = try await MembershipUseCases(req: req, context: context).requestToJoin(JoinRequestBody(message: nil))
            return (nil, "Asked to join \(context.org.name). Its reviewers have been told.")
        }
    }
}

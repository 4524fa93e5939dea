import Vapor
import Fluent
import RosterCore
import RosterStore

/// `POST /v1/orgs/{org}/domains`.
struct AddDomainRequest: RequestBody {
    static let fields: Set<String> = ["domain", "policy", "role"]
    var domain: String
    var policy: String?
    var role: String?
}

/// `PATCH /v1/orgs/{org}/domains/{domain}`.
struct UpdateDomainRequest: RequestBody {
    static let fields: Set<String> = ["policy", "role"]
    var policy: String?
    var role: String?
}

/// An organization's email domain as the API shows it, with the DNS record that verifies it.
struct DomainResponse: Content {
    struct Record: Content { var type: String; var name: String; var value: String }
    var id: UUID
    var domain: String
    var status: String
    var policy: String
    var role: String?
    var verification: Record
    var verifiedAt: Date?
    var checkedAt: Date?
    var checkResult: String?
    var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, domain, status, policy, role, verification
        case verifiedAt = "verified_at", checkedAt = "checked_at", checkResult = "check_result", createdAt = "created_at"
    }

    init(_ model: OrganizationDomainModel) {
        id = model.id ?? UUID()
        domain = model.domain
        status = model.verifiedAt == nil ? "pending" : "verified"
        policy = model.policy
        role = model.roleKey
        verification = Record(type: "TXT", name: model.domain, value: DomainVerification.record(token: model.token))
        verifiedAt = model.verifiedAt
        checkedAt = model.checkedAt
        checkResult = model.checkResult
        createdAt = model.createdAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(domain, forKey: .domain)
        try c.encode(status, forKey: .status)
        try c.encode(policy, forKey: .policy)
        try c.encode(role, forKey: .role)
        try c.encode(verification, forKey: .verification)
        try c.encode(verifiedAt, forKey: .verifiedAt)
        try c.encode(checkedAt, forKey: .checkedAt)
        try c.encode(checkResult, forKey: .checkResult)
        try c.encode(createdAt, forKey: .createdAt)
    }
}

/// An organization suggested to the caller because it verified their email's domain.
struct DomainSuggestion: Content {
    var organization: MyRosterController.OrganizationSummary
    var domain: String
    var policy: String
    /// Whether the caller may ask to join (the domain opens requests, or the organization takes them).
    var canRequest: Bool
    enum CodingKeys: String, CodingKey { case organization, domain, policy, canRequest = "can_request" }
}

/// `/v1/orgs/{org}/domains`: owners claim email domains, verify them by DNS and choose what they do for accounts
/// there; `/v1/me/domain-suggestions`: the organizations that verified the caller's domain.
struct DomainsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let v1 = routes.grouped("v1").grouped(BearerAuthenticator())
        let domains = v1.grouped("orgs", ":org", "domains")
        domains.post(use: add)
        domains.get(use: list)
        domains.get(":domain", use: get)
        domains.patch(":domain", use: update)
        domains.delete(":domain", use: remove)
        domains.post(":domain", "verify", use: verify)
        v1.get("me", "domain-suggestions", use: suggestions)
    }

    struct DomainList: Content { var items: [DomainResponse] }
    struct SuggestionList: Content { var items: [DomainSuggestion] }

    private func domains(_ req: Request) async throws -> OrganizationDomains {
        try OrganizationDomains(context: try await req.orgScope(), db: req.db, resolver: req.application.roster.txtResolver,
                                limits: req.application.roster.limits, requestID: req.id)
    }

    @Sendable func add(req: Request) async throws -> Response {
        let domains = try await domains(req)
        let body = try req.decodeBody(AddDomainRequest.self)
        return try jsonResponse(DomainResponse(try await domains.add(domain: body.domain, policy: body.policy, role: body.role)), status: .created)
    }

    @Sendable func list(req: Request) async throws -> DomainList {
        DomainList(items: try await domains(req).all().map(DomainResponse.init))
    }

    @Sendable func get(req: Request) async throws -> DomainResponse {
        let id = try req.uuidParameter("domain")
        guard let model = try await domains(req).all().first(where: { $0.id == id }) else { throw RosterError.notFound }
        return DomainResponse(model)
    }

    @Sendable func update(req: Request) async throws -> DomainResponse {
        let domains = try await domains(req)
        let body = try req.decodeBody(UpdateDomainRequest.self)
        return DomainResponse(try await domains.update(try req.uuidParameter("domain"), policy: body.policy, role: body.role))
    }

    @Sendable func remove(req: Request) async throws -> HTTPStatus {
        try await domains(req).remove(try req.uuidParameter("domain"))
        return .noContent
    }

    @Sendable func verify(req: Request) async throws -> DomainResponse {
        DomainResponse(try await domains(req).verify(try req.uuidParameter("domain")))
    }

    @Sendable func suggestions(req: Request) async throws -> SuggestionList {
        let (account, _) = try req.requireAccount()
        return SuggestionList(items: try await Self.suggestions(for: account, on: req.db))
    }

    /// The organizations that verified `account`'s email domain with `suggest` or `request` and where it holds no
    /// live row (the API and the home page).
    static func suggestions(for account: AccountModel, on db: any Database) async throws -> [DomainSuggestion] {
        guard account.emailVerifiedAt != nil, let id = account.id else { return [] }
        return try await DomainStore(db).suggestions(accountID: id, email: account.email, policies: [.suggest, .request]).map { domain, org in
            DomainSuggestion(organization: .init(id: domain.orgID, name: org.name, slug: org.slug), domain: domain.domain, policy: domain.policy,
                             canRequest: domain.domainPolicy.opensRequests || org.settings.joinPolicy == .request)
        }
    }
}

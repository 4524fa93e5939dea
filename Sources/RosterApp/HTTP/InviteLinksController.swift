import Vapor
import Fluent
import RosterCore
import RosterStore

/// `POST {scope}/invite-links`.
struct CreateInviteLinkRequest: RequestBody {
    static let fields: Set<String> = ["role", "max_uses", "expires_at", "allowed_email_domains", "requires_approval"]
    var role: String?
    var maxUses: Int?
    /// An RFC 3339 time (`2026-12-31T23:59:00Z`).
    var expiresAt: String?
    var allowedEmailDomains: [String]?
    var requiresApproval: Bool?
    enum CodingKeys: String, CodingKey {
        case role
        case maxUses = "max_uses", expiresAt = "expires_at", allowedEmailDomains = "allowed_email_domains", requiresApproval = "requires_approval"
    }
}

/// An invite link as the API shows it; `url` (holding the code) only in the answer that creates it.
struct InviteLinkResponse: Content {
    var id: UUID
    var url: String?
    var role: String
    var maxUses: Int?
    var uses: Int
    var expiresAt: Date?
    var allowedEmailDomains: [String]
    var requiresApproval: Bool
    var state: String
    var createdAt: Date
    var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, url, role, uses, state
        case maxUses = "max_uses", expiresAt = "expires_at", allowedEmailDomains = "allowed_email_domains", requiresApproval = "requires_approval"
        case createdAt = "created_at", revokedAt = "revoked_at"
    }

    init(_ link: InviteLinkModel, url: String? = nil, now: Date = Date()) {
        id = link.id ?? UUID()
        self.url = url
        role = link.roleKey
        maxUses = link.maxUses
        uses = link.uses
        expiresAt = link.expiresAt
        allowedEmailDomains = link.facts?.allowedDomains ?? []
        requiresApproval = link.requiresApproval
        state = link.facts?.state(now: now).rawValue ?? InviteLinkState.revoked.rawValue
        createdAt = link.createdAt
        revokedAt = link.revokedAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encodeIfPresent(url, forKey: .url)
        try c.encode(role, forKey: .role)
        try c.encode(maxUses, forKey: .maxUses)
        try c.encode(uses, forKey: .uses)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(allowedEmailDomains, forKey: .allowedEmailDomains)
        try c.encode(requiresApproval, forKey: .requiresApproval)
        try c.encode(state, forKey: .state)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(revokedAt, forKey: .revokedAt)
    }
}

/// What an invite link offers, as anyone holding its code may see it.
struct InviteLinkPreview: Content {
    var organization: String
    var space: String?
    var role: String
    var requiresApproval: Bool
    var allowedEmailDomains: [String]
    var state: String
    enum CodingKeys: String, CodingKey {
        case organization, space, role, state
        case requiresApproval = "requires_approval", allowedEmailDomains = "allowed_email_domains"
    }
}

/// `{scope}/invite-links`: a roster's shareable invite links, for holders of `members.invite` (a link's role at most
/// one they may grant).
struct InviteLinksController: RouteCollection {
    let scope: @Sendable (Request) async throws -> ScopeContext

    func boot(routes: any RoutesBuilder) throws {
        let links = routes.grouped("invite-links")
        links.post(use: create)
        links.get(use: list)
        links.delete(":link", use: revoke)
    }


    @Sendable func create(req: Request) async throws -> Response {
        let links = InviteLinks(req: req, context: try await scope(req))
        let (link, url) = try await links.create(try req.decodeBody(CreateInviteLinkRequest.self))
        return try jsonResponse(InviteLinkResponse(link, url: url), status: .created)
    }

    @Sendable func list(req: Request) async throws -> Page<InviteLinkResponse> {
        let links = InviteLinks(req: req, context: try await scope(req))
        let query = try req.query.decode(OrganizationsController.ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw).id }
        let (items, next) = try await links.page(after: cursor, limit: limit)
        return Page(items: items.map { InviteLinkResponse($0) }, nextCursor: next.map { PageCursor(key: "", id: $0).encoded })
    }

    @Sendable func revoke(req: Request) async throws -> HTTPStatus {
        let links = InviteLinks(req: req, context: try await scope(req))
        try await links.revoke(try req.uuidParameter("link"))
        return .noContent
    }
}

/// `/v1/invite-links/{code}`: what a link offers (no sign-in needed: the code is the secret), and joining through it
/// (signed in).
struct InviteLinkJoinController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let link = routes.grouped("v1", "invite-links", ":code")
        link.get(use: preview)
        link.grouped(BearerAuthenticator()).post("join", use: join)
    }

    @Sendable func preview(req: Request) async throws -> InviteLinkPreview {
        try await InviteLinks.preview(req, code: req.parameters.get("code") ?? "")
    }

    @Sendable func join(req: Request) async throws -> Response {
        let row = try await InviteLinks.join(req, code: req.parameters.get("code") ?? "")
        return try jsonResponse(MembershipResponse(row), status: .created)
    }
}

/// Invite links of one roster (the API and the web pages), and joining through one.
struct InviteLinks: Sendable {
    let context: ScopeContext
    let db: any Database
    let requestID: String?
    let baseURL: String

    init(req: Request, context: ScopeContext) {
        self.context = context
        db = req.db
        requestID = req.id
        baseURL = req.application.roster.configuration.baseURL
    }

    /// One keyset page of the roster's links, newest first: those after the link `cursor` (an id of this roster), and
    /// the last one's id when more follow.
    func page(after cursor: UUID?, limit: Int) async throws -> (links: [InviteLinkModel], next: UUID?) {
        try context.authority.require(.membersInvite)
        guard let page = try await InviteLinkStore(db).page(scopeID: context.scope.scopeID, after: cursor, limit: limit) else {
            throw RosterError.validation([FieldIssue(field: "cursor", message: "is not a cursor this API returned")])
        }
        return page
    }

    /// A new link; its URL (holding the code) is returned once.
    func create(_ body: CreateInviteLinkRequest) async throws -> (InviteLinkModel, String) {
        try context.authority.require(.membersInvite)
        try Lifecycle.requireVerifiedInviter(context.person)
        let role = try context.ladder.roleOrDefault(body.role)
        try InviteLinkRules.requireRole(role, grantableBy: context.authority)
        var issues: [FieldIssue] = []
        if let maxUses = body.maxUses, !(1...InviteLinkRules.maximumUses).contains(maxUses) {
            issues.append(FieldIssue(field: "max_uses", message: "must be from 1 to \(InviteLinkRules.maximumUses)"))
        }
        var expiresAt: Date?
        if let raw = body.expiresAt {
            expiresAt = InviteLinkRules.time(raw)
            if expiresAt == nil {
                issues.append(FieldIssue(field: "expires_at", message: "must be a time such as 2026-12-31T23:59:00Z"))
            } else if let expiresAt, expiresAt <= Date() {
                issues.append(FieldIssue(field: "expires_at", message: "must be in the future"))
            }
        }
        if !issues.isEmpty { throw RosterError.validation(issues) }
        let domains = try InviteLinkRules.domains(body.allowedEmailDomains ?? [])
        let code = Secret.generate()
        let link = InviteLinkModel()
        link.id = UUID()
        link.orgID = context.scope.orgID
        link.spaceID = context.scope.spaceID
        link.scopeID = context.scope.scopeID
        link.codeHash = Secret.hash(code)
        link.roleKey = role.key
        link.maxUses = body.maxUses
        link.uses = 0
        link.expiresAt = expiresAt
        link.allowedDomains = domains.isEmpty ? nil : domains.joined(separator: ",")
        link.requiresApproval = body.requiresApproval ?? false
        link.createdBy = context.account?.id
        link.createdAt = Date()
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            let locked = try await context.locked(on: db)
            try InviteLinkRules.requireRole(try locked.ladder.require(role.key), grantableBy: locked.authority)
            try await link.create(on: db)
            try await AuditLog(db).record(action: "invite_link.created", actor: context.actor, orgID: context.scope.orgID, spaceID: context.scope.spaceID,
                                          before: nil, after: ["link_id": link.id?.uuidString.lowercased() ?? "", "role": role.key,
                                                               "max_uses": link.maxUses.map(String.init) ?? "",
                                                               "domains": link.allowedDomains ?? "", "requires_approval": String(link.requiresApproval)],
                                          requestID: requestID, at: link.createdAt)
        }
        return (link, "\(baseURL)/j/\(code)")
    }

    /// Revokes the link at once (revoking twice changes nothing).
    func revoke(_ id: UUID) async throws {
        try context.authority.require(.membersInvite)
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            let locked = try await context.locked(on: db)
            guard let link = try await InviteLinkModel.query(on: db).filter(\.$id == id).filter(\.$scopeID == context.scope.scopeID).first() else {
                throw RosterError.notFound
            }
            guard link.revokedAt == nil else { return }
            try InviteLinkRules.requireMayRevoke(linkGiving: locked.ladder.role(link.roleKey), authority: locked.authority)
            link.revokedAt = Date()
            try await link.save(on: db)
            try await AuditLog(db).record(action: "invite_link.revoked", actor: context.actor, orgID: context.scope.orgID, spaceID: context.scope.spaceID,
                                          before: nil, after: ["link_id": id.uuidString.lowercased(), "role": link.roleKey, "uses": String(link.uses)],
                                          requestID: requestID, at: Date())
        }
    }

    /// The link with `code` (any state), or 404.
    static func link(code: String, on db: any Database) async throws -> InviteLinkModel {
        guard !code.isEmpty, code.count <= 100,
              let link = try await InviteLinkModel.query(on: db).filter(\.$codeHash == Secret.hash(code)).first() else { throw RosterError.notFound }
        return link
    }

    /// What the link offers.
    static func preview(_ req: Request, code: String) async throws -> InviteLinkPreview {
        let link = try await link(code: code, on: req.db)
        // A deleted organization's link leads nowhere.
        guard let org = try await Directory(req.db).organization(ref: link.orgID.uuidString) else { throw RosterError.notFound }
        var spaceName: String?
        var ladder = try await MembershipStore(req.db).ladder(orgID: link.orgID, .org)
        if let spaceID = link.spaceID {
            guard let (space, _) = try await Directory(req.db).space(id: spaceID) else { throw RosterError.notFound }
            spaceName = space.name
            ladder = try await MembershipStore(req.db).ladder(orgID: link.orgID, .space)
        }
        return InviteLinkPreview(organization: org.name, space: spaceName, role: ladder.role(link.roleKey)?.name ?? link.roleKey,
                                 requiresApproval: link.requiresApproval, allowedEmailDomains: link.facts?.allowedDomains ?? [],
                                 state: link.facts?.state(now: Date()).rawValue ?? "revoked")
    }

    /// The signed-in caller joins through the link (or asks to, when it requires approval).
    static func join(_ req: Request, code: String) async throws -> MembershipModel {
        let link = try await link(code: code, on: req.db)
        guard let id = link.id else { throw RosterError.notFound }
        // The roster of the link, with the caller's authority there (none needed to join).
        if let spaceID = link.spaceID {
            req.parameters.set("space", to: spaceID.uuidString)
        } else {
            req.parameters.set("org", to: link.orgID.uuidString)
        }
        let context = try await (link.spaceID == nil ? req.orgScope() : req.spaceScope())
        guard let row = try await MembershipUseCases(req: req, context: context).run(.joinByLink(id)) else { throw RosterError.notFound }
        return row
    }
}

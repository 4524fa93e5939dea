import Vapor
import Fluent
import SQLKit
import RosterCore
import RosterStore

/// The roster routes shared by organizations and spaces: members and join requests of one scope.
struct RosterController: RouteCollection {
    /// Resolves the scope named by the path and the caller's authority on it.
    let scope: @Sendable (Request) async throws -> ScopeContext

    func boot(routes: any RoutesBuilder) throws {
        let members = routes.grouped("members")
        members.get(use: list)
        members.post(use: invite)
        members.get(":id", use: show)
        members.patch(":id", use: update)
        members.delete(":id", use: remove)
        members.post(":id", "resend", use: resend)
        let requests = routes.grouped("join-requests")
        requests.post(use: requestToJoin)
        requests.get(use: listRequests)
        requests.post(":id", "approve", use: approve)
        requests.post(":id", "reject", use: reject)
        requests.delete(":id", use: withdraw)
        try routes.register(collection: RosterImportController(scope: scope))
        try routes.register(collection: InviteLinksController(scope: scope))
    }

    struct ListQuery: Content {
        var status: String?
        var role: String?
        var source: String?
        var inviteLink: String?
        var q: String?
        var cursor: String?
        var limit: Int?

        enum CodingKeys: String, CodingKey {
            case status, role, source, q, cursor, limit
            case inviteLink = "invite_link"
        }
    }

    @Sendable func list(req: Request) async throws -> Page<MembershipResponse> {
        let context = try await scope(req)
        try context.authority.require(.membersRead)
        return try await page(req, context: context, joinRequests: false)
    }

    @Sendable func listRequests(req: Request) async throws -> Page<MembershipResponse> {
        let context = try await scope(req)
        try context.authority.require(.requestsReview)
        return try await page(req, context: context, joinRequests: true)
    }

    private func page(_ req: Request, context: ScopeContext, joinRequests: Bool) async throws -> Page<MembershipResponse> {
        let query = try req.query.decode(ListQuery.self)
        var filter = MemberListFilter(scopeID: context.scope.scopeID, limit: try PageCursor.limit(query.limit))
        var issues: [FieldIssue] = []
        if let raw = query.status {
            if let status = MembershipStatus(rawValue: raw) { filter.status = status } else {
                issues.append(FieldIssue(field: "status", message: "must be one of \(MembershipStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if let raw = query.source {
            if let source = MembershipSource(rawValue: raw) { filter.source = source } else {
                issues.append(FieldIssue(field: "source", message: "must be one of \(MembershipSource.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if let raw = query.inviteLink {
            if let id = UUID(uuidString: raw) { filter.inviteLinkID = id } else {
                issues.append(FieldIssue(field: "invite_link", message: "must be the id of an invite link"))
            }
        }
        if !joinRequests, filter.source == .joinRequest, filter.status == nil || filter.status == .pending {
            issues.append(FieldIssue(field: "source", message: "pending join requests are listed under join-requests"))
        }
        if !issues.isEmpty { throw RosterError.validation(issues) }
        if joinRequests {
            filter.source = .joinRequest
            filter.status = filter.status ?? .pending
        }
        filter.role = query.role
        filter.search = try MemberSearch.text(query.q)
        filter.cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw) }
        try await MembershipStore(req.db).expireInvitationsIfDue(scopeID: context.scope.scopeID, now: Date())
        let (rows, next) = try await MemberList(req.db).page(filter)
        return Page(items: rows.map(MembershipResponse.init), nextCursor: next?.encoded)
    }

    @Sendable func invite(req: Request) async throws -> Response {
        let context = try await scope(req)
        try context.authority.require(.membersInvite)
        let body = try req.decodeBody(InviteMemberRequest.self)
        let row = try await MembershipUseCases(req: req, context: context).invite(body)
        return try jsonResponse(MembershipResponse(row), status: .created)
    }

    @Sendable func show(req: Request) async throws -> MembershipResponse {
        let context = try await scope(req)
        try context.authority.require(.membersRead)
        let id = try req.uuidParameter("id")
        try await MembershipStore(req.db).expireInvitationsIfDue(scopeID: context.scope.scopeID, now: Date())
        guard let row = try await MembershipStore(req.db).row(id: id, scopeID: context.scope.scopeID) else { throw RosterError.notFound }
        return MembershipResponse(row)
    }

    @Sendable func update(req: Request) async throws -> MembershipResponse {
        let context = try await scope(req)
        let id = try req.uuidParameter("id")
        let body = try req.decodeBody(UpdateMemberRequest.self)
        return MembershipResponse(try await MembershipUseCases(req: req, context: context).update(id: id, body))
    }

    @Sendable func remove(req: Request) async throws -> HTTPStatus {
        let context = try await scope(req)
        try await MembershipUseCases(req: req, context: context).remove(id: try req.uuidParameter("id"))
        return .noContent
    }

    /// `POST …/members/{id}/resend`, optionally with `{"email": …}`: a corrected address gets a new invitation
    /// (201) and the old one is revoked; otherwise the same address gets a new link (200).
    @Sendable func resend(req: Request) async throws -> Response {
        let context = try await scope(req)
        let body = try req.decodeBody(ResendRequest.self)
        let id = try req.uuidParameter("id")
        let email = try body.email.map { raw throws(RosterError) in try MemberFields.email(raw) }
        let row = try await MembershipUseCases(req: req, context: context).resend(id: id, to: email)
        return try jsonResponse(MembershipResponse(row), status: row.id == id ? .ok : .created)
    }

    @Sendable func requestToJoin(req: Request) async throws -> Response {
        let context = try await scope(req)
        let body = try req.decodeBody(JoinRequestBody.self)
        let row = try await MembershipUseCases(req: req, context: context).requestToJoin(body)
        return try jsonResponse(MembershipResponse(row), status: .created)
    }

    @Sendable func approve(req: Request) async throws -> MembershipResponse {
        let context = try await scope(req)
        let body = try req.decodeBody(ApproveRequestBody.self)
        return MembershipResponse(try await MembershipUseCases(req: req, context: context).review(id: try req.uuidParameter("id"), approve: true, roleKey: body.role))
    }

    @Sendable func reject(req: Request) async throws -> MembershipResponse {
        let context = try await scope(req)
        _ = try req.decodeBody(EmptyBody.self)
        return MembershipResponse(try await MembershipUseCases(req: req, context: context).review(id: try req.uuidParameter("id"), approve: false, roleKey: nil))
    }

    @Sendable func withdraw(req: Request) async throws -> HTTPStatus {
        let context = try await scope(req)
        try await MembershipUseCases(req: req, context: context).withdraw(id: try req.uuidParameter("id"))
        return .noContent
    }
}

/// The members search `q`: matched literally as a substring; bounded and printable, so no backend ever sees a NUL
/// or a 10,000-character pattern.
enum MemberSearch {
    static let maximumLength = 200

    /// The trimmed, lowercased search text; nil when blank; 422 when too long or holding control characters.
    static func text(_ raw: String?) throws(RosterError) -> String? {
        guard let raw else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed.count > maximumLength {
            throw RosterError.validation([FieldIssue(field: "q", message: "must be at most \(maximumLength) characters")])
        }
        if AccountRules.hasControlCharacters(trimmed) {
            throw RosterError.validation([FieldIssue(field: "q", message: "must not contain control characters")])
        }
        return trimmed.isEmpty ? nil : trimmed
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// `POST /v1/orgs/{org}/webhooks`.
struct CreateWebhookRequest: RequestBody {
    static let fields: Set<String> = ["url", "event_types", "description", "enabled"]
    var url: String
    var eventTypes: [String]?
    var description: String?
    var enabled: Bool?
    enum CodingKeys: String, CodingKey { case url, description, enabled, eventTypes = "event_types" }
}

/// `PATCH /v1/orgs/{org}/webhooks/{id}`: the fields given change; `event_types: null` takes every type again.
struct UpdateWebhookRequest: RequestBody {
    static let fields: Set<String> = ["url", "event_types", "description", "enabled"]
    var url: String?
    var eventTypes: [String]??
    var description: String?
    var enabled: Bool?
    enum CodingKeys: String, CodingKey { case url, description, enabled, eventTypes = "event_types" }

    init(url: String? = nil, eventTypes: [String]?? = nil, description: String? = nil, enabled: Bool? = nil) {
        self.url = url
        self.eventTypes = eventTypes
        self.description = description
        self.enabled = enabled
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        url = try c.decodeIfPresent(String.self, forKey: .url)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled)
        eventTypes = c.contains(.eventTypes) ? .some(try c.decodeIfPresent([String].self, forKey: .eventTypes)) : .none
    }
}

/// `POST /v1/orgs/{org}/webhooks/{id}/rotate-secret`.
struct RotateWebhookSecretRequest: RequestBody {
    static let fields: Set<String> = ["grace_hours"]
    var graceHours: Int?
    enum CodingKeys: String, CodingKey { case graceHours = "grace_hours" }
}

/// A webhook endpoint as the API shows it; `secret` only in the answers that create or rotate it.
struct WebhookResponse: Content {
    var id: UUID
    var url: String
    var description: String
    var eventTypes: [String]?
    var enabled: Bool
    var disabledReason: String?
    var failingSince: Date?
    var nextAttemptAt: Date?
    var secret: String?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, url, description, enabled, secret
        case eventTypes = "event_types", disabledReason = "disabled_reason", failingSince = "failing_since"
        case nextAttemptAt = "next_attempt_at", createdAt = "created_at", updatedAt = "updated_at"
    }

    init(_ endpoint: WebhookEndpointModel, secret: String? = nil) {
        id = endpoint.id ?? UUID()
        url = endpoint.url
        description = endpoint.description
        eventTypes = endpoint.eventTypeSet.map { $0.sorted() }
        enabled = endpoint.enabled
        disabledReason = endpoint.disabledReason
        failingSince = endpoint.failingSince
        nextAttemptAt = endpoint.nextAttemptAt
        self.secret = secret
        createdAt = endpoint.createdAt
        updatedAt = endpoint.updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(url, forKey: .url)
        try c.encode(description, forKey: .description)
        try c.encode(eventTypes, forKey: .eventTypes)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(disabledReason, forKey: .disabledReason)
        try c.encode(failingSince, forKey: .failingSince)
        try c.encode(nextAttemptAt, forKey: .nextAttemptAt)
        try c.encodeIfPresent(secret, forKey: .secret)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
    }
}

/// One attempt of an endpoint's delivery log.
struct WebhookDeliveryResponse: Content {
    var id: UUID
    var eventID: UUID
    var eventType: String
    var sequence: Int64
    var attempt: Int
    var status: String
    var responseStatus: Int?
    var durationMS: Int?
    var error: String?
    var redelivery: Bool
    var at: Date

    enum CodingKeys: String, CodingKey {
        case id, attempt, status, error, redelivery, at, sequence
        case eventID = "event_id", eventType = "event_type", responseStatus = "response_status", durationMS = "duration_ms"
    }

    init(_ d: WebhookDeliveryModel) {
        id = d.id ?? UUID()
        eventID = d.eventID
        eventType = d.eventType
        sequence = d.eventSeq
        attempt = d.attempt
        status = d.status
        responseStatus = d.responseStatus
        durationMS = d.durationMS
        error = d.error
        redelivery = d.redelivery
        at = d.at
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(eventID, forKey: .eventID)
        try c.encode(eventType, forKey: .eventType)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(attempt, forKey: .attempt)
        try c.encode(status, forKey: .status)
        try c.encode(responseStatus, forKey: .responseStatus)
        try c.encode(durationMS, forKey: .durationMS)
        try c.encode(error, forKey: .error)
        try c.encode(redelivery, forKey: .redelivery)
        try c.encode(at, forKey: .at)
    }
}

/// `/v1/orgs/{org}/webhooks`: an organization's webhook endpoints, their delivery log and redeliveries, for holders
/// of `webhooks.manage` (owners).
struct WebhooksController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let webhooks = routes.grouped("v1", "orgs", ":org", "webhooks").grouped(BearerAuthenticator())
        webhooks.post(use: create)
        webhooks.get(use: list)
        let one = webhooks.grouped(":webhook")
        one.get(use: show)
        one.patch(use: update)
        one.delete(use: delete)
        one.post("rotate-secret", use: rotate)
        one.get("deliveries", use: deliveries)
        one.post("deliveries", ":delivery", "redeliver", use: redeliver)
    }

    struct WebhookList: Content { var items: [WebhookResponse] }

    @Sendable func create(req: Request) async throws -> Response {
        let use = try await WebhookUseCases(req: req)
        let (endpoint, secret) = try await use.create(try req.decodeBody(CreateWebhookRequest.self))
        return try jsonResponse(WebhookResponse(endpoint, secret: secret), status: .created)
    }

    @Sendable func list(req: Request) async throws -> WebhookList {
        let use = try await WebhookUseCases(req: req)
        return WebhookList(items: try await WebhookStore(req.db).endpoints(orgID: use.orgID).map { WebhookResponse($0) })
    }

    @Sendable func show(req: Request) async throws -> WebhookResponse {
        let use = try await WebhookUseCases(req: req)
        return WebhookResponse(try await use.endpoint(req))
    }

    @Sendable func update(req: Request) async throws -> WebhookResponse {
        let use = try await WebhookUseCases(req: req)
        let endpoint = try await use.endpoint(req)
        return WebhookResponse(try await use.update(endpoint, with: try req.decodeBody(UpdateWebhookRequest.self)))
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        let use = try await WebhookUseCases(req: req)
        try await use.delete(try await use.endpoint(req))
        return .noContent
    }

    @Sendable func rotate(req: Request) async throws -> WebhookResponse {
        let use = try await WebhookUseCases(req: req)
        let endpoint = try await use.endpoint(req)
        let body = try req.decodeBody(RotateWebhookSecretRequest.self)
        let (rotated, secret) = try await use.rotate(endpoint, graceHours: body.graceHours ?? WebhookRules.defaultGraceHours)
        return WebhookResponse(rotated, secret: secret)
    }

    @Sendable func deliveries(req: Request) async throws -> Page<WebhookDeliveryResponse> {
        let use = try await WebhookUseCases(req: req)
        let endpoint = try await use.endpoint(req)
        let query = try req.query.decode(OrganizationsController.ListQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let cursor = try query.cursor.map { raw throws(RosterError) in try PageCursor.decode(raw).id }
        let (items, next) = try await WebhookStore(req.db).deliveries(endpointID: try endpoint.requireID(), before: cursor, limit: limit)
        return Page(items: items.map(WebhookDeliveryResponse.init), nextCursor: next.map { PageCursor(key: "", id: $0).encoded })
    }

    @Sendable func redeliver(req: Request) async throws -> Response {
        let use = try await WebhookUseCases(req: req)
        let endpoint = try await use.endpoint(req)
        guard let id = req.parameters.get("delivery").flatMap(UUID.init(uuidString:)),
              let delivery = try await WebhookStore(req.db).delivery(id, endpointID: try endpoint.requireID()), delivery.status != "pending" else {
            throw RosterError.notFound
        }
        guard try await WebhookStore(req.db).pendingRedeliveries(endpointID: try endpoint.requireID()) < WebhookStore.maximumPendingRedeliveries else {
            throw RosterError(.conflict, "This endpoint already has \(WebhookStore.maximumPendingRedeliveries) redeliveries waiting; let them go first.")
        }
        let again = try await WebhookStore(req.db).redeliver(delivery, now: Date())
        return try jsonResponse(WebhookDeliveryResponse(again), status: .accepted)
    }
}

/// The changes to an organization's webhook endpoints (the API and the web page): `webhooks.manage` required,
/// every change audited.
struct WebhookUseCases: Sendable {
    let context: ScopeContext
    let db: any Database
    let requestID: String?
    let allowPrivate: Bool

    init(req: Request) async throws {
        context = try await req.orgScope()
        try context.authority.require(.webhooksManage)
        // An endpoint receives every event (emails, roles, attributes): who manages one must be able to read them.
        try context.authority.require(.auditRead)
        db = req.db
        requestID = req.id
        allowPrivate = req.application.roster.configuration.webhookAllowPrivate
    }

    var orgID: UUID { context.scope.orgID }

    /// The endpoint named by the `webhook` path parameter, or 404.
    func endpoint(_ req: Request) async throws -> WebhookEndpointModel {
        guard let id = req.parameters.get("webhook").flatMap(UUID.init(uuidString:)),
              let endpoint = try await WebhookStore(db).endpoint(id, orgID: orgID) else { throw RosterError.notFound }
        return endpoint
    }

    /// Checks a URL as deliveries will: its form, and every address its host resolves to (unless private ones are allowed).
    func checked(url raw: String) async throws -> String {
        let target = try WebhookRules.target(of: raw, allowPrivate: allowPrivate)
        if !allowPrivate, let refusal = await HostAddresses.refusal(of: target.host) {
            throw RosterError.validation([FieldIssue(field: "url", message: refusal)])
        }
        return raw
    }

    func eventTypes(_ raw: [String]?) throws(RosterError) -> String? {
        guard let raw else { return nil }
        let types = try EventCatalogue.parse(types: raw, field: "event_types")
        guard !types.isEmpty else { throw RosterError.validation([FieldIssue(field: "event_types", message: "must name at least one type (or be left out for all)")]) }
        return types.sorted().joined(separator: ",")
    }

    func description(_ raw: String?) throws(RosterError) -> String {
        let text = (raw ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count <= 500 else { throw RosterError.validation([FieldIssue(field: "description", message: "must be at most 500 characters")]) }
        return text
    }

    func create(_ body: CreateWebhookRequest) async throws -> (WebhookEndpointModel, String) {
        let endpoint = WebhookEndpointModel()
        endpoint.id = UUID()
        endpoint.orgID = orgID
        endpoint.url = try await checked(url: body.url)
        endpoint.description = try description(body.description)
        endpoint.eventTypes = try eventTypes(body.eventTypes)
        endpoint.enabled = body.enabled ?? true
        let secret = WebhookSignature.newSecret()
        endpoint.secret = secret
        endpoint.attempts = 0
        endpoint.createdAt = Date()
        endpoint.updatedAt = endpoint.createdAt
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            _ = try await context.locked(on: db)
            try await WebhookStore(db).create(endpoint)
            try await AuditLog(db).record(action: "webhook.created", actor: context.actor, orgID: context.scope.orgID, before: nil,
                                          after: Self.audit(endpoint), requestID: requestID, at: endpoint.createdAt)
        }
        return (endpoint, secret)
    }

    func update(_ endpoint: WebhookEndpointModel, with body: UpdateWebhookRequest) async throws -> WebhookEndpointModel {
        let before = Self.audit(endpoint)
        if let url = body.url { endpoint.url = try await checked(url: url) }
        if let description = body.description { endpoint.description = try self.description(description) }
        if let types = body.eventTypes { endpoint.eventTypes = try eventTypes(types) }
        if let enabled = body.enabled {
            if enabled && !endpoint.enabled {
                // Enabled again: its failures are forgotten and it resumes after the last event it accepted.
                endpoint.attempts = 0
                endpoint.failingSince = nil
                endpoint.nextAttemptAt = nil
                endpoint.disabledReason = nil
            }
            endpoint.enabled = enabled
        }
        endpoint.updatedAt = Date()
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            try await endpoint.save(on: db)
            try await AuditLog(db).record(action: "webhook.updated", actor: context.actor, orgID: context.scope.orgID, before: before,
                                          after: Self.audit(endpoint), requestID: requestID, at: endpoint.updatedAt)
        }
        return endpoint
    }

    func delete(_ endpoint: WebhookEndpointModel) async throws {
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            try await WebhookDeliveryModel.query(on: db).filter(\.$endpointID == endpoint.requireID()).delete()
            try await endpoint.delete(on: db)
            try await AuditLog(db).record(action: "webhook.deleted", actor: context.actor, orgID: context.scope.orgID, before: Self.audit(endpoint),
                                          after: nil, requestID: requestID, at: Date())
        }
    }

    /// A new secret; the old one also signs for `graceHours` (0: stops at once).
    func rotate(_ endpoint: WebhookEndpointModel, graceHours: Int) async throws -> (WebhookEndpointModel, String) {
        guard (0...WebhookRules.maximumGraceHours).contains(graceHours) else {
            throw RosterError.validation([FieldIssue(field: "grace_hours", message: "must be from 0 to \(WebhookRules.maximumGraceHours)")])
        }
        let secret = WebhookSignature.newSecret()
        let now = Date()
        endpoint.previousSecret = graceHours > 0 ? endpoint.secret : nil
        endpoint.previousSecretUntil = graceHours > 0 ? now.addingTimeInterval(TimeInterval(graceHours) * 3600) : nil
        endpoint.secret = secret
        endpoint.updatedAt = now
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            try await endpoint.save(on: db)
            try await AuditLog(db).record(action: "webhook.secret_rotated", actor: context.actor, orgID: context.scope.orgID, before: nil,
                                          after: ["url": endpoint.url, "grace_hours": String(graceHours)], requestID: requestID, at: now)
        }
        return (endpoint, secret)
    }

    /// What the audit log keeps of an endpoint (never its secret).
    static func audit(_ endpoint: WebhookEndpointModel) -> [String: String] {
        ["url": endpoint.url, "description": endpoint.description, "event_types": endpoint.eventTypes ?? "*", "enabled": String(endpoint.enabled)]
    }
}

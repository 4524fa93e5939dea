import Vapor
import Fluent
import RosterCore
import RosterStore

/// `/orgs/{org}/webhooks`: an organization's webhook endpoints on the web (owners): add one (its secret is shown on
/// the page that answers, once), enable or disable, rotate the secret, delete, and each endpoint's latest deliveries
/// with "redeliver". The same use cases as the API (`WebhookUseCases`).
struct WebhookPages: Sendable {
    func register(on org: any RoutesBuilder) {
        org.get("webhooks", use: page)
        org.post("webhooks", use: create)
        org.post("webhooks", ":webhook", ":action", use: action)
        org.post("webhooks", ":webhook", "deliveries", ":delivery", "redeliver", use: redeliver)
    }

    struct Delivery: Encodable { var id: String; var at: String; var type: String; var attempt: Int; var status: String; var detail: String }
    struct Endpoint: Encodable {
        var id: String; var url: String; var description: String; var types: String; var enabled: Bool; var state: String
        var deliveries: [Delivery]
    }
    struct Page: Encodable {
        var frame: WebPages.Frame; var org: String; var slug: String; var endpoints: [Endpoint]; var types: [String]
        var secret: String?; var secretFor: String?
    }

    func render(_ req: Request, _ use: WebhookUseCases, secret: (String, String)? = nil) async throws -> Response {
        let store = WebhookStore(req.db)
        var endpoints: [Endpoint] = []
        for endpoint in try await store.endpoints(orgID: use.orgID) {
            let id = try endpoint.requireID()
            let recent = try await store.deliveries(endpointID: id, before: nil, limit: 10).items.map { d in
                Delivery(id: d.id?.uuidString.lowercased() ?? "", at: EmailTemplates.utcTimestamp(d.at), type: d.eventType, attempt: d.attempt,
                         status: d.status, detail: d.responseStatus.map { "HTTP \($0)" } ?? d.error ?? "")
            }
            let state = endpoint.enabled
                ? (endpoint.failingSince.map { "failing since \(EmailTemplates.utcTimestamp($0))" } ?? "active")
                : (endpoint.disabledReason == "gone" ? "disabled: the receiver answered 410" : endpoint.disabledReason == "failing" ? "disabled after three days of failures" : "disabled")
            endpoints.append(Endpoint(id: id.uuidString.lowercased(), url: endpoint.url, description: endpoint.description,
                                      types: endpoint.eventTypeSet.map { $0.sorted().joined(separator: ", ") } ?? "every event",
                                      enabled: endpoint.enabled, state: state, deliveries: recent))
        }
        let org = use.context.org
        let view = try await req.view.render("web/webhooks", Page(
            frame: WebPages.frame(req, "Webhooks of \(org.name)"), org: org.name, slug: org.slug, endpoints: endpoints,
            types: EventCatalogue.types, secret: secret?.1, secretFor: secret?.0))
        return try await view.encodeResponse(for: req)
    }

    @Sendable func page(req: Request) async throws -> Response {
        try await render(req, try await WebhookUseCases(req: req))
    }

    struct Form: Content { var url: String?; var description: String?; var event_types: [String]? }

    /// Adds an endpoint and answers with the page showing its secret (not a redirect: the secret is not kept).
    @Sendable func create(req: Request) async throws -> Response {
        let use = try await WebhookUseCases(req: req)
        return try await WebPages.answer(req, back: "/orgs/\(use.context.org.slug)/webhooks") {
            let form = try req.content.decode(Form.self)
            let types = form.event_types.flatMap { $0.isEmpty ? nil : $0 }
            let (endpoint, secret) = try await use.create(CreateWebhookRequest(url: form.url ?? "", eventTypes: types, description: form.description))
            return try await render(req, use, secret: (endpoint.url, secret))
        }
    }

    /// `enable`, `disable`, `rotate` (answers with the new secret) or `delete`.
    @Sendable func action(req: Request) async throws -> Response {
        let use = try await WebhookUseCases(req: req)
        let endpoint = try await use.endpoint(req)
        let back = "/orgs/\(use.context.org.slug)/webhooks"
        switch req.parameters.get("action") {
        case "rotate":
            return try await WebPages.answer(req, back: back) {
                let (_, secret) = try await use.rotate(endpoint, graceHours: WebhookRules.defaultGraceHours)
                return try await render(req, use, secret: (endpoint.url, secret))
            }
        case "enable", "disable":
            let enabled = req.parameters.get("action") == "enable"
            return try await WebPages.perform(req, back: back) {
                _ = try await use.update(endpoint, with: UpdateWebhookRequest(enabled: enabled))
                return (nil, enabled ? "Enabled; it resumes after the last event it accepted." : "Disabled.")
            }
        case "delete":
            return try await WebPages.perform(req, back: back) {
                try await use.delete(endpoint)
                return (nil, "Deleted \(endpoint.url).")
            }
        default:
            throw RosterError.notFound
        }
    }

    @Sendable func redeliver(req: Request) async throws -> Response {
        let use = try await WebhookUseCases(req: req)
        let endpoint = try await use.endpoint(req)
        return try await WebPages.perform(req, back: "/orgs/\(use.context.org.slug)/webhooks") {
            guard let id = req.parameters.get("delivery").flatMap(UUID.init(uuidString:)),
                  let delivery = try await WebhookStore(req.db).delivery(id, endpointID: try endpoint.requireID()) else { throw RosterError.notFound }
            _ = try await WebhookStore(req.db).redeliver(delivery, now: Date())
            return (nil, "Queued to be sent again.")
        }
    }
}

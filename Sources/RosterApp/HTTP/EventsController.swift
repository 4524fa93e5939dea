import Vapor
import RosterCore
import RosterStore

/// One event as the events feed lists it and webhooks deliver it (`EventCatalogue`): the audit entry the change
/// wrote, with its type, its number in the organization and what changed.
struct EventResponse: Content {
    /// A membership as the event saw it: its identity and its state after the change (for an update by import, the
    /// fields the import set).
    struct MembershipState: Content {
        var id: UUID?
        var orgID: UUID
        var spaceID: UUID?
        var accountID: UUID?
        var email: String?
        var role: String?
        var status: String?
        var source: String?
        var externalID: String?
        var attributes: [String: AttributeValue]?

        enum CodingKeys: String, CodingKey {
            case id, email, role, status, source, attributes
            case orgID = "org_id", spaceID = "space_id", accountID = "account_id", externalID = "external_id"
        }

        init(event: AuditEventModel, state: [String: String]) {
            id = event.membershipID
            orgID = event.orgID
            spaceID = event.spaceID
            accountID = event.targetAccountID
            email = event.targetEmail
            role = state["role"]
            status = state["status"]
            source = state["source"]
            externalID = state["external_id"]
            attributes = state["attributes"].flatMap { try? JSONDecoder().decode([String: AttributeValue].self, from: Data($0.utf8)) }
        }
    }

    /// What changed: a membership (and its state before, when it had one), or the recorded before and after of an
    /// organization, space or role.
    struct Payload: Content {
        var membership: MembershipState?
        var previous: MembershipState?
        var before: [String: String]?
        var after: [String: String]?
    }

    struct Actor: Content { var type: String; var id: UUID? }

    var id: UUID
    var sequence: Int64
    var type: String
    var timestamp: Date
    var orgID: UUID
    var spaceID: UUID?
    var actor: Actor
    var data: Payload

    enum CodingKeys: String, CodingKey {
        case id, sequence, type, timestamp, actor, data
        case orgID = "org_id", spaceID = "space_id"
    }

    /// The event of an audit entry (nil for an entry that is not an event).
    init?(_ event: AuditEventModel) {
        guard let id = event.id, let sequence = event.seq, let type = EventCatalogue.type(ofAction: event.action) else { return nil }
        func state(_ text: String?) -> [String: String]? {
            text.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        }
        self.id = id
        self.sequence = sequence
        self.type = type
        timestamp = event.at
        orgID = event.orgID
        spaceID = event.spaceID
        actor = Actor(type: event.actorType, id: event.actorID)
        if type.hasPrefix("membership.") {
            data = Payload(membership: MembershipState(event: event, state: state(event.after) ?? [:]),
                           previous: state(event.before).map { MembershipState(event: event, state: $0) })
        } else {
            data = Payload(before: state(event.before), after: state(event.after))
        }
    }
}

/// `GET /v1/orgs/{org}/events`: the organization's events after a number, oldest first — the pull alternative to
/// webhooks. A client keeps the last `sequence` it handled and asks for what follows. Events are audit entries, kept
/// as long as the audit log (at least the 30 days the feed promises).
struct EventsController: RouteCollection {
    struct EventPage: Content {
        var items: [EventResponse]
        /// The number to pass as `after` next time (the last event's, or the `after` given when there was none).
        var nextAfter: Int64
        /// Whether more events follow at once.
        var hasMore: Bool
        enum CodingKeys: String, CodingKey { case items, nextAfter = "next_after", hasMore = "has_more" }
    }

    struct EventQuery: Content {
        var after: Int64?
        var types: String?
        var limit: Int?
    }

    func boot(routes: any RoutesBuilder) throws {
        routes.grouped("v1", "orgs", ":org").grouped(BearerAuthenticator()).get("events", use: list)
    }

    @Sendable func list(req: Request) async throws -> EventPage {
        let context = try await req.orgScope()
        try context.authority.require(.auditRead)
        let query = try req.query.decode(EventQuery.self)
        let limit = try PageCursor.limit(query.limit)
        let after = query.after ?? 0
        guard after >= 0 else { throw RosterError.validation([FieldIssue(field: "after", message: "must be 0 or more")]) }
        let actions = try query.types.map { raw throws(RosterError) in
            EventCatalogue.actions(ofTypes: try EventCatalogue.parse(types: [raw], field: "types"))
        }
        let page = try await Directory(req.db).events(orgID: context.scope.orgID, after: after, actions: actions, limit: limit + 1)
        let items = page.prefix(limit).compactMap(EventResponse.init)
        return EventPage(items: items, nextAfter: page.prefix(limit).last?.seq ?? after, hasMore: page.count > limit)
    }
}

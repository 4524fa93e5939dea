import Foundation

/// The events other systems follow (issue 15): every change to an organization's roster, its spaces, roles or
/// settings, as `GET /v1/orgs/{org}/events` lists them and webhooks deliver them.
///
/// An event is the audit entry the change wrote in its own transaction — nothing is recorded for a change that
/// rolled back, and nothing committed is missed. Each organization numbers its events (`sequence`) in the order they
/// were committed: the number is taken from the organization's row, whose lock the writing transaction holds until it
/// commits, so a reader who has seen event N has seen every event before it. Numbers can skip: audit entries that
/// are not events (webhook and API key changes) take numbers too.
public enum EventCatalogue {
    /// The event type of each audit action. Actions not listed here (none today) are not events.
    public static let typeByAction: [String: String] = [
        MembershipEvent.invited.rawValue: "membership.invited",
        MembershipEvent.added.rawValue: "membership.added",
        MembershipEvent.created.rawValue: "membership.added",
        MembershipEvent.accepted.rawValue: "membership.accepted",
        MembershipEvent.declined.rawValue: "membership.declined",
        MembershipEvent.revoked.rawValue: "membership.revoked",
        MembershipEvent.resent.rawValue: "membership.invitation_resent",
        MembershipEvent.expired.rawValue: "membership.expired",
        MembershipEvent.requested.rawValue: "membership.requested",
        MembershipEvent.approved.rawValue: "membership.approved",
        MembershipEvent.rejected.rawValue: "membership.rejected",
        MembershipEvent.withdrawn.rawValue: "membership.withdrawn",
        MembershipEvent.mutualIntent.rawValue: "membership.activated",
        MembershipEvent.roleChanged.rawValue: "membership.role_changed",
        MembershipEvent.updated.rawValue: "membership.updated",
        MembershipEvent.removed.rawValue: "membership.removed",
        MembershipEvent.left.rawValue: "membership.left",
        MembershipEvent.joinedByLink.rawValue: "membership.joined",
        MembershipEvent.joinedByDomain.rawValue: "membership.joined",
        MembershipEvent.provisioned.rawValue: "membership.added",
        "domain.added": "domain.added",
        "domain.verified": "domain.verified",
        "domain.updated": "domain.updated",
        "domain.lost": "domain.lost",
        "domain.removed": "domain.removed",
        "organization.created": "org.created",
        "organization.updated": "org.updated",
        "organization.deleted": "org.deleted",
        "space.created": "space.created",
        "space.updated": "space.updated",
        "space.deleted": "space.deleted",
        "role.saved": "role.saved",
        "role.deleted": "role.deleted",
    ]

    /// Every event type, sorted.
    public static let types: [String] = Array(Set(typeByAction.values)).sorted()

    /// The event type of an audit action.
    public static func type(ofAction action: String) -> String? { typeByAction[action] }

    /// The audit actions of the given event types (for filtering the log).
    public static func actions(ofTypes types: Set<String>) -> [String] {
        typeByAction.filter { types.contains($0.value) }.map(\.key).sorted()
    }

    /// Reads a `types` list (comma-separated or repeated), refusing unknown types with `validation_failed`.
    /// Each entry is a type or a prefix ending in `.*` (`membership.*`).
    public static func parse(types raw: [String], field: String) throws(RosterError) -> Set<String> {
        var result: Set<String> = []
        var unknown: [String] = []
        for entry in raw.flatMap({ $0.split(separator: ",") }).map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            if entry.hasSuffix(".*") {
                let prefix = entry.dropLast(1)
                let matching = types.filter { $0.hasPrefix(prefix) }
                if matching.isEmpty { unknown.append(entry) } else { result.formUnion(matching) }
            } else if types.contains(entry) {
                result.insert(entry)
            } else {
                unknown.append(entry)
            }
        }
        if !unknown.isEmpty {
            throw RosterError.validation([FieldIssue(field: field, message: "unknown event types: \(unknown.prefix(10).joined(separator: ", ")); known: \(types.joined(separator: ", "))")])
        }
        if result.isEmpty { throw RosterError.validation([FieldIssue(field: field, message: "must name at least one event type")]) }
        return result
    }
}

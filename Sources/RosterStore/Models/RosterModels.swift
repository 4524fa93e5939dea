import Fluent
import Foundation
import RosterCore

/// An organization; soft-deleted through `deleted_at`.
public final class OrganizationModel: Model, @unchecked Sendable {
    public static let schema = "organizations"

    @ID(key: .id) public var id: UUID?
    @Field(key: "name") public var name: String
    @Field(key: "slug") public var slug: String
    @Field(key: "description") public var description: String
    @Field(key: "join_policy") public var joinPolicy: String
    @Field(key: "add_policy") public var addPolicy: String
    @Field(key: "invitation_ttl_days") public var invitationTTLDays: Int
    @OptionalField(key: "seat_limit") public var seatLimit: Int?
    /// The organization's own invitation-email budget per hour (nil: the server's default), set by a platform admin.
    @OptionalField(key: "invites_per_hour") public var invitesPerHour: Int?
    @Timestamp(key: "created_at", on: .create) public var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) public var updatedAt: Date?
    @OptionalField(key: "deleted_at") public var deletedAt: Date?

    public init() {}
}

/// A role of one ladder of one organization; permissions are stored comma-separated.
public final class RoleModel: Model, @unchecked Sendable {
    public static let schema = "roles"

    @ID(key: .id) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    @Field(key: "ladder") public var ladder: String
    @Field(key: "key") public var key: String
    @Field(key: "name") public var name: String
    @Field(key: "rank") public var rank: Int
    @Field(key: "permissions") public var permissions: String

    public init() {}
}

/// The one record of a person's relation to a scope (an organization or a space) through its whole life.
public final class MembershipModel: Model, @unchecked Sendable {
    public static let schema = "memberships"

    @ID(key: .id) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    @OptionalField(key: "space_id") public var spaceID: UUID?
    /// The organization id for org rosters, the space id for space rosters: what uniqueness is per.
    @Field(key: "scope_id") public var scopeID: UUID
    @OptionalField(key: "account_id") public var accountID: UUID?
    @Field(key: "email") public var email: String
    @OptionalField(key: "name") public var name: String?
    @Field(key: "role_key") public var roleKey: String
    @Field(key: "status") public var status: String
    @Field(key: "source") public var source: String
    @OptionalField(key: "external_id") public var externalID: String?
    @Field(key: "attributes") public var attributes: String
    @OptionalField(key: "invited_by") public var invitedBy: UUID?
    @OptionalField(key: "token_hash") public var tokenHash: String?
    @OptionalField(key: "expires_at") public var expiresAt: Date?
    @OptionalField(key: "message") public var message: String?
    @OptionalField(key: "delivery_status") public var deliveryStatus: String?
    /// When the invitation's email goes (or went): the slot the organization's invitation budget gave it.
    @OptionalField(key: "delivery_at") public var deliveryAt: Date?
    @OptionalField(key: "delivery_error") public var deliveryError: String?
    @Field(key: "created_at") public var createdAt: Date
    @Field(key: "updated_at") public var updatedAt: Date
    @OptionalField(key: "ended_at") public var endedAt: Date?
    /// The invite link the row came through (a membership or a join request made by a link).
    @OptionalField(key: "invite_link_id") public var inviteLinkID: UUID?

    public init() {}

    /// A new row of `scope`, created at `now`.
    public convenience init(
        scope: ScopeRef, email: String, name: String?, roleKey: String, status: MembershipStatus, source: MembershipSource,
        accountID: UUID? = nil, externalID: String? = nil, attributes: String = "{}", now: Date
    ) {
        self.init()
        orgID = scope.orgID
        spaceID = scope.spaceID
        scopeID = scope.scopeID
        self.email = email
        self.name = name
        self.roleKey = roleKey
        self.status = status.rawValue
        self.source = source.rawValue
        self.accountID = accountID
        self.externalID = externalID
        self.attributes = attributes
        createdAt = now
        updatedAt = now
    }
}

/// An append-only audit event.
public final class AuditEventModel: Model, @unchecked Sendable {
    public static let schema = "audit_events"

    @ID(key: .id) public var id: UUID?
    @Field(key: "at") public var at: Date
    @Field(key: "actor_type") public var actorType: String
    @OptionalField(key: "actor_id") public var actorID: UUID?
    @Field(key: "action") public var action: String
    @Field(key: "org_id") public var orgID: UUID
    @OptionalField(key: "space_id") public var spaceID: UUID?
    @OptionalField(key: "membership_id") public var membershipID: UUID?
    @OptionalField(key: "target_account_id") public var targetAccountID: UUID?
    @OptionalField(key: "target_email") public var targetEmail: String?
    @OptionalField(key: "before") public var before: String?
    @OptionalField(key: "after") public var after: String?
    @OptionalField(key: "request_id") public var requestID: String?
    /// The event's number in its organization, in commit order (`EventSequence`).
    @OptionalField(key: "seq") public var seq: Int64?

    public init() {}
}

/// An email written in the transaction that caused it, delivered later by the outbox worker.
public final class OutboxMessageModel: Model, @unchecked Sendable {
    public static let schema = "outbox_messages"

    @ID(key: .id) public var id: UUID?
    @Field(key: "kind") public var kind: String
    @OptionalField(key: "org_id") public var orgID: UUID?
    @OptionalField(key: "membership_id") public var membershipID: UUID?
    @Field(key: "recipient") public var recipient: String
    @Field(key: "subject") public var subject: String
    @Field(key: "text_body") public var textBody: String
    @Field(key: "html_body") public var htmlBody: String
    /// The template's fields as JSON (`QueuedEmail.payload`); the body is rendered from them at delivery. Empty
    /// bodies and a payload mark such a message; the payload is cleared once the message is sent.
    @OptionalField(key: "payload") public var payload: String?
    /// When a worker claimed the message (status `sending`).
    @OptionalField(key: "claimed_at") public var claimedAt: Date?
    @Field(key: "status") public var status: String
    @Field(key: "attempts") public var attempts: Int
    @Field(key: "next_attempt_at") public var nextAttemptAt: Date
    /// An invitation's slot in its organization's budget (`InvitationBudget`); nil for emails outside the budget.
    @OptionalField(key: "scheduled_at") public var scheduledAt: Date?
    @OptionalField(key: "last_error") public var lastError: String?
    @Field(key: "created_at") public var createdAt: Date
    @OptionalField(key: "sent_at") public var sentAt: Date?

    public init() {}
}

/// A space inside an organization with its own roster; soft-deleted through `deleted_at`.
public final class SpaceModel: Model, @unchecked Sendable {
    public static let schema = "spaces"

    @ID(key: .id) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    @Field(key: "name") public var name: String
    @Field(key: "slug") public var slug: String
    @Field(key: "kind") public var kind: String
    @Field(key: "join_policy") public var joinPolicy: String
    @Field(key: "add_policy") public var addPolicy: String
    @OptionalField(key: "seat_limit") public var seatLimit: Int?
    /// Member-attribute definitions, as JSON.
    @Field(key: "attributes") public var attributes: String
    @Timestamp(key: "created_at", on: .create) public var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) public var updatedAt: Date?
    @OptionalField(key: "deleted_at") public var deletedAt: Date?

    public init() {}
}

extension OrganizationModel {
    /// The settings as the rules see them.
    public var settings: ScopeSettings {
        get {
            ScopeSettings(joinPolicy: JoinPolicy(rawValue: joinPolicy) ?? .closed, addPolicy: AddPolicy(rawValue: addPolicy) ?? .consent,
                          invitationTTLDays: invitationTTLDays, seatLimit: seatLimit)
        }
        set {
            joinPolicy = newValue.joinPolicy.rawValue
            addPolicy = newValue.addPolicy.rawValue
            invitationTTLDays = newValue.invitationTTLDays
            seatLimit = newValue.seatLimit
        }
    }
}

/// A webhook endpoint of an organization: where its events are POSTed, signed with `secret` (Standard Webhooks).
public final class WebhookEndpointModel: Model, @unchecked Sendable {
    public static let schema = "webhook_endpoints"

    @ID(key: .id) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    @Field(key: "url") public var url: String
    @Field(key: "description") public var description: String
    /// The event types delivered, comma-separated (nil: every type).
    @OptionalField(key: "event_types") public var eventTypes: String?
    @Field(key: "enabled") public var enabled: Bool
    /// `whsec_…`: kept, since every delivery is signed with it.
    @Field(key: "secret") public var secret: String
    /// The secret before the last rotation, which also signs until `previousSecretUntil`.
    @OptionalField(key: "previous_secret") public var previousSecret: String?
    @OptionalField(key: "previous_secret_until") public var previousSecretUntil: Date?
    /// The number of the last event of the organization this endpoint has handled (delivered or not its type).
    @Field(key: "cursor") public var cursor: Int64
    /// Failed attempts at the event after `cursor`.
    @Field(key: "attempts") public var attempts: Int
    @OptionalField(key: "next_attempt_at") public var nextAttemptAt: Date?
    /// Since when deliveries have failed without a success in between.
    @OptionalField(key: "failing_since") public var failingSince: Date?
    /// Until when a worker holds the endpoint (one worker delivers an endpoint's events at a time, in order).
    @OptionalField(key: "lease_until") public var leaseUntil: Date?
    /// Who holds the lease (a token the claiming worker made).
    @OptionalField(key: "lease_token") public var leaseToken: String?
    /// Why the endpoint was disabled by Roster (`gone`: the receiver answered 410; `failing`: 3 days of failures).
    @OptionalField(key: "disabled_reason") public var disabledReason: String?
    @Field(key: "created_at") public var createdAt: Date
    @Field(key: "updated_at") public var updatedAt: Date

    public init() {}

    /// The event types delivered (nil: every type).
    public var eventTypeSet: Set<String>? { eventTypes.map { Set($0.split(separator: ",").map(String.init)) } }
}

/// One attempt to deliver an event to an endpoint (the delivery log), or a redelivery waiting to be sent.
public final class WebhookDeliveryModel: Model, @unchecked Sendable {
    public static let schema = "webhook_deliveries"

    @ID(key: .id) public var id: UUID?
    @Field(key: "endpoint_id") public var endpointID: UUID
    @Field(key: "event_id") public var eventID: UUID
    @Field(key: "event_seq") public var eventSeq: Int64
    @Field(key: "event_type") public var eventType: String
    @Field(key: "attempt") public var attempt: Int
    /// `delivered`, `failed`, or `pending` (a redelivery not yet sent).
    @Field(key: "status") public var status: String
    @OptionalField(key: "response_status") public var responseStatus: Int?
    @OptionalField(key: "duration_ms") public var durationMS: Int?
    @OptionalField(key: "error") public var error: String?
    @Field(key: "redelivery") public var redelivery: Bool
    @Field(key: "at") public var at: Date

    public init() {}
}

/// A shareable invite link of an organization or a space: whoever opens `/j/{code}` may join with its role.
public final class InviteLinkModel: Model, @unchecked Sendable {
    public static let schema = "invite_links"

    @ID(key: .id) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    @OptionalField(key: "space_id") public var spaceID: UUID?
    @Field(key: "scope_id") public var scopeID: UUID
    /// SHA-256 of the code (the code itself is shown once).
    @Field(key: "code_hash") public var codeHash: String
    @Field(key: "role_key") public var roleKey: String
    @OptionalField(key: "max_uses") public var maxUses: Int?
    @Field(key: "uses") public var uses: Int
    @OptionalField(key: "expires_at") public var expiresAt: Date?
    /// Comma-separated email domains (nil: any).
    @OptionalField(key: "allowed_domains") public var allowedDomains: String?
    @Field(key: "requires_approval") public var requiresApproval: Bool
    @OptionalField(key: "created_by") public var createdBy: UUID?
    @Field(key: "created_at") public var createdAt: Date
    @OptionalField(key: "revoked_at") public var revokedAt: Date?

    public init() {}

    /// The link as the lifecycle decides on it.
    public var facts: InviteLinkFacts? {
        id.map { InviteLinkFacts(id: $0, roleKey: roleKey, maxUses: maxUses, uses: uses, expiresAt: expiresAt, revokedAt: revokedAt,
                                 allowedDomains: (allowedDomains ?? "").split(separator: ",").map(String.init), requiresApproval: requiresApproval) }
    }
}

/// An email domain an organization claims (issue 16, point 2): verified by a DNS TXT record holding its token,
/// re-checked daily, with the policy it applies to accounts whose verified email is in it.
public final class OrganizationDomainModel: Model, @unchecked Sendable {
    public static let schema = "organization_domains"

    @ID(key: .id) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    /// Canonical (lowercased) domain name.
    @Field(key: "domain") public var domain: String
    /// The token of the TXT record `roster-verification=<token>` (public: it is published in DNS).
    @Field(key: "token") public var token: String
    /// `suggest`, `request` or `auto` (`DomainPolicy`).
    @Field(key: "policy") public var policy: String
    /// The role of members who join under `auto` (nil: the ladder's default).
    @OptionalField(key: "role_key") public var roleKey: String?
    /// Set while the domain is verified; one organization at most holds a domain verified (a unique index).
    @OptionalField(key: "verified_at") public var verifiedAt: Date?
    /// The last DNS check, and what it found when it was not the record.
    @OptionalField(key: "checked_at") public var checkedAt: Date?
    @OptionalField(key: "check_result") public var checkResult: String?
    @OptionalField(key: "created_by") public var createdBy: UUID?
    @Field(key: "created_at") public var createdAt: Date
    /// While existing verified accounts are joining under `auto`: the last account id done (`backfillStart()`
    /// before the first); nil when none are waiting.
    @OptionalField(key: "backfill_after") public var backfillAfter: UUID?

    /// `backfillAfter` of a backfill that has not begun: eight zero bytes, which sort before every account id (those
    /// begin with a time or random bytes), then eight random ones, so each start differs and a run of an earlier
    /// start cannot move the cursor of a later one (`DomainStore.advanceBackfill`).
    public static func backfillStart() -> UUID {
        var bytes = UUID().uuid
        (bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5, bytes.6, bytes.7) = (0, 0, 0, 0, 0, 0, 0, 0)
        return UUID(uuid: bytes)
    }

    public init() {}

    /// The domain's policy (an unknown stored value reads as the mildest).
    public var domainPolicy: DomainPolicy { DomainPolicy(rawValue: policy) ?? .suggest }

    /// The domain as the lifecycle decides on it.
    public var facts: VerifiedDomainFacts? {
        id.map { VerifiedDomainFacts(id: $0, domain: domain, policy: domainPolicy, roleKey: roleKey) }
    }
}

/// A user as the organization's identity provider sees it over SCIM (issue 16, point 3): the provider's record,
/// kept verbatim, and the membership it provisioned (nil while inactive).
public final class SCIMUserModel: Model, @unchecked Sendable {
    public static let schema = "scim_users"

    @ID(key: .id) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    /// The email (canonical), unique per organization.
    @Field(key: "user_name") public var userName: String
    @OptionalField(key: "external_id") public var externalID: String?
    @OptionalField(key: "given_name") public var givenName: String?
    @OptionalField(key: "family_name") public var familyName: String?
    @OptionalField(key: "display_name") public var displayName: String?
    /// As the provider set it (nil: not given, which counts as active).
    @OptionalField(key: "active") public var active: Bool?
    @OptionalField(key: "membership_id") public var membershipID: UUID?
    @Field(key: "created_at") public var createdAt: Date
    @Field(key: "updated_at") public var updatedAt: Date

    public init() {}
}

/// A space's SCIM-only fields (it is a SCIM Group): the provider's external ID.
public final class SCIMGroupModel: Model, @unchecked Sendable {
    public static let schema = "scim_groups"

    /// The space's id.
    @ID(custom: "id", generatedBy: .user) public var id: UUID?
    @Field(key: "org_id") public var orgID: UUID
    @OptionalField(key: "external_id") public var externalID: String?

    public init() {}
}

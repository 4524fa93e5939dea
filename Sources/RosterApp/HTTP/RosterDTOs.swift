import Vapor
import RosterCore
import RosterStore

/// Delivery of a membership's invitation email.
struct DeliveryResponse: Content {
    var status: String
    var lastError: String?
    /// While `queued`: when the organization's invitation budget lets the email go.
    var scheduledAt: Date?
    enum CodingKeys: String, CodingKey {
        case status
        case lastError = "last_error"
        case scheduledAt = "scheduled_at"
    }
}

/// `Membership` of DESIGN §8.
struct MembershipResponse: Content {
    var id: UUID
    var orgID: UUID
    var spaceID: UUID?
    var accountID: UUID?
    var email: String
    var name: String?
    var role: String
    var status: String
    var source: String
    var externalID: String?
    /// A boolean attribute's value is a JSON boolean.
    var attributes: [String: AttributeValue]
    var invitedBy: UUID?
    /// The invite link the member (or the join request) came through.
    var inviteLinkID: UUID?
    var message: String?
    var delivery: DeliveryResponse?
    var expiresAt: Date?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, email, name, role, status, source, attributes, delivery, message
        case orgID = "org_id"
        case spaceID = "space_id"
        case accountID = "account_id"
        case externalID = "external_id"
        case invitedBy = "invited_by"
        case inviteLinkID = "invite_link_id"
        case expiresAt = "expires_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orgID, forKey: .orgID)
        try c.encode(spaceID, forKey: .spaceID)
        try c.encode(accountID, forKey: .accountID)
        try c.encode(email, forKey: .email)
        try c.encode(name, forKey: .name)
        try c.encode(role, forKey: .role)
        try c.encode(status, forKey: .status)
        try c.encode(source, forKey: .source)
        try c.encode(externalID, forKey: .externalID)
        try c.encode(attributes, forKey: .attributes)
        try c.encode(invitedBy, forKey: .invitedBy)
        try c.encode(inviteLinkID, forKey: .inviteLinkID)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encode(delivery, forKey: .delivery)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
    }

    init(_ model: MembershipModel) { self.init(MembershipRow(model)) }

    init(_ m: MembershipRow) {
        id = m.id
        orgID = m.orgID
        spaceID = m.spaceID
        accountID = m.accountID
        email = m.email
        name = m.name
        role = m.roleKey
        status = m.status
        source = m.source
        externalID = m.externalID
        attributes = m.attributeValues.mapValues(AttributeValue.init(text:))
        invitedBy = m.invitedBy
        inviteLinkID = m.inviteLinkID
        message = m.message
        delivery = m.deliveryStatus.map {
            DeliveryResponse(status: $0, lastError: m.deliveryError, scheduledAt: $0 == "queued" ? m.deliveryAt : nil)
        }
        expiresAt = m.status == MembershipStatus.pending.rawValue || m.status == MembershipStatus.expired.rawValue ? m.expiresAt : nil
        createdAt = m.createdAt
        updatedAt = m.updatedAt
    }
}

/// A page of a keyset-paginated list.
struct Page<Item: Content>: Content {
    var items: [Item]
    var nextCursor: String?
    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)
    }
}

/// `POST {scope}/members`.
struct InviteMemberRequest: RequestBody {
    static let fields: Set<String> = ["email", "role", "name", "external_id", "attributes"]
    var email: String
    var role: String?
    var name: String?
    var externalID: String?
    /// A boolean attribute takes a JSON boolean (or `"true"`/`"false"`).
    var attributes: [String: AttributeValue]?
    enum CodingKeys: String, CodingKey {
        case email, role, name, attributes
        case externalID = "external_id"
    }
}

/// `PATCH {scope}/members/{id}`.
struct UpdateMemberRequest: RequestBody {
    static let fields: Set<String> = ["role", "external_id", "attributes"]
    var role: String?
    var externalID: String??
    var attributes: [String: AttributeValue]?

    /// A role change only (the members page's role form).
    init(role: String) {
        self.role = role
    }
    enum CodingKeys: String, CodingKey {
        case role, attributes
        case externalID = "external_id"
    }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decodeIfPresent(String.self, forKey: .role)
        attributes = try c.decodeIfPresent([String: AttributeValue].self, forKey: .attributes)
        // Absent: unchanged; null: cleared; a string: set.
        externalID = c.contains(.externalID) ? .some(try c.decodeIfPresent(String.self, forKey: .externalID)) : .none
    }
}

/// `POST {scope}/join-requests`.
struct JoinRequestBody: RequestBody {
    static let fields: Set<String> = ["message"]
    var message: String?
}

/// `POST {scope}/join-requests/{id}/approve`.
struct ApproveRequestBody: RequestBody {
    static let fields: Set<String> = ["role"]
    var role: String?
}

/// `POST …/members/{id}/resend` body: optionally a corrected address.
struct ResendRequest: RequestBody {
    var email: String?
    static let fields: Set<String> = ["email"]
}

/// A body that must be empty or `{}`.
struct EmptyBody: RequestBody {
    static let fields: Set<String> = []
}

/// An organization as the API shows it.
struct OrganizationResponse: Content {
    var id: UUID
    var name: String
    var slug: String
    var description: String
    var settings: ScopeSettings
    var role: String?
    var createdAt: Date?
    enum CodingKeys: String, CodingKey {
        case id, name, slug, description, settings, role
        case createdAt = "created_at"
    }
    init(_ org: OrganizationModel, role: String?) {
        id = org.id ?? UUID()
        name = org.name
        slug = org.slug
        description = org.description
        settings = org.settings
        self.role = role
        createdAt = org.createdAt
    }
}

/// `settings` in requests: every field optional (PATCH merges).
struct SettingsPatch: Codable, Sendable {
    var joinPolicy: JoinPolicy?
    var addPolicy: AddPolicy?
    var invitationTTLDays: Int?
    var seatLimit: Int??

    /// A patch that changes nothing (fields are then set one by one).
    init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case joinPolicy = "join_policy"
        case addPolicy = "add_policy"
        case invitationTTLDays = "invitation_ttl_days"
        case seatLimit = "seat_limit"
    }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        joinPolicy = try c.decodeIfPresent(JoinPolicy.self, forKey: .joinPolicy)
        addPolicy = try c.decodeIfPresent(AddPolicy.self, forKey: .addPolicy)
        invitationTTLDays = try c.decodeIfPresent(Int.self, forKey: .invitationTTLDays)
        seatLimit = c.contains(.seatLimit) ? .some(try c.decodeIfPresent(Int.self, forKey: .seatLimit)) : .none
    }
    func applied(to settings: ScopeSettings) -> ScopeSettings {
        var s = settings
        if let joinPolicy { s.joinPolicy = joinPolicy }
        if let addPolicy { s.addPolicy = addPolicy }
        if let invitationTTLDays { s.invitationTTLDays = invitationTTLDays }
        if let seatLimit { s.seatLimit = seatLimit }
        return s
    }
}

/// `POST /v1/orgs`.
struct CreateOrganizationRequest: RequestBody {
    static let fields: Set<String> = ["name", "slug", "description", "settings"]
    static let nested: [String: Set<String>] = ["settings": Set(SettingsPatch.CodingKeys.allCases.map(\.rawValue))]
    var name: String
    var slug: String?
    var description: String?
    var settings: SettingsPatch?
}

/// `PATCH /v1/orgs/{org}`.
struct UpdateOrganizationRequest: RequestBody {
    static let fields: Set<String> = ["name", "slug", "description", "settings"]
    static let nested: [String: Set<String>] = CreateOrganizationRequest.nested
    var name: String?
    var slug: String?
    var description: String?
    var settings: SettingsPatch?
}

/// A role as the API shows it.
struct RoleResponse: Content {
    var key: String
    var name: String
    var rank: Int
    var permissions: [String]
    init(_ role: RoleDefinition) {
        key = role.key
        name = role.name
        rank = role.rank
        permissions = role.permissions.sorted().map(\.rawValue)
    }
}

/// `GET /v1/orgs/{org}/roles`.
struct RolesResponse: Content {
    var orgRoles: [RoleResponse]
    var spaceRoles: [RoleResponse]
    enum CodingKeys: String, CodingKey {
        case orgRoles = "org_roles"
        case spaceRoles = "space_roles"
    }
}

/// `PUT /v1/orgs/{org}/roles/{ladder}/{key}`.
struct PutRoleRequest: RequestBody {
    static let fields: Set<String> = ["name", "rank", "permissions"]
    var name: String
    var rank: Int
    var permissions: [String]
}

/// `GET /v1/invitation-tokens/{token}`.
struct InvitationPreview: Content {
    struct Org: Content { var id: UUID; var name: String; var slug: String }
    struct Role: Content { var key: String; var name: String }
    var organization: Org
    var space: Org?
    var email: String
    var role: Role
    var inviterName: String?
    var status: String
    var expiresAt: Date?
    enum CodingKeys: String, CodingKey {
        case organization, space, email, role, status
        case inviterName = "inviter_name"
        case expiresAt = "expires_at"
    }
}

/// An audit event as the API shows it.
struct AuditEventResponse: Content {
    struct Actor: Content { var type: String; var id: UUID? }
    struct Scope: Content {
        var orgID: UUID; var spaceID: UUID?
        enum CodingKeys: String, CodingKey { case orgID = "org_id", spaceID = "space_id" }
    }
    struct Target: Content {
        var membershipID: UUID?; var accountID: UUID?; var email: String?
        enum CodingKeys: String, CodingKey { case membershipID = "membership_id", accountID = "account_id", email }
    }
    var id: UUID
    var at: Date
    var actor: Actor
    var action: String
    var scope: Scope
    var target: Target
    var before: [String: String]?
    var after: [String: String]?
    var requestID: String?
    enum CodingKeys: String, CodingKey {
        case id, at, actor, action, scope, target, before, after
        case requestID = "request_id"
    }
    init(_ e: AuditEventModel) {
        func state(_ s: String?) -> [String: String]? {
            s.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        }
        id = e.id ?? UUID()
        at = e.at
        actor = Actor(type: e.actorType, id: e.actorID)
        action = e.action
        scope = Scope(orgID: e.orgID, spaceID: e.spaceID)
        target = Target(membershipID: e.membershipID, accountID: e.targetAccountID, email: e.targetEmail)
        before = state(e.before)
        after = state(e.after)
        requestID = e.requestID
    }
}

/// `POST /v1/authorize`.
struct AuthorizeRequest: RequestBody {
    static let fields: Set<String> = ["account_id", "org", "space", "permission"]
    var accountID: UUID
    var org: String?
    var space: String?
    var permission: String
    enum CodingKeys: String, CodingKey {
        case org, space, permission
        case accountID = "account_id"
    }
}

/// `{allowed, role}` of `POST /v1/authorize` (written by `AuthorizeController.response`).
struct AuthorizeResponse: Sendable {
    var allowed: Bool
    var role: String?
}

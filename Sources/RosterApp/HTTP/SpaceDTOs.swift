import Vapor
import RosterCore
import RosterStore

/// A space's own settings (the invitation TTL is the organization's).
struct SpaceSettings: Codable, Sendable {
    var joinPolicy: JoinPolicy
    var addPolicy: AddPolicy
    var seatLimit: Int?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case joinPolicy = "join_policy", addPolicy = "add_policy", seatLimit = "seat_limit"
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(joinPolicy, forKey: .joinPolicy)
        try c.encode(addPolicy, forKey: .addPolicy)
        try c.encode(seatLimit, forKey: .seatLimit)
    }
}

/// A space as the API shows it.
struct SpaceResponse: Content {
    var id: UUID
    var orgID: UUID
    var name: String
    var slug: String
    var kind: String
    var settings: SpaceSettings
    var attributes: [AttributeDefinition]
    var createdAt: Date?
    enum CodingKeys: String, CodingKey {
        case id, name, slug, kind, settings, attributes
        case orgID = "org_id", createdAt = "created_at"
    }
    init(_ s: SpaceModel) {
        id = s.id ?? UUID()
        orgID = s.orgID
        name = s.name
        slug = s.slug
        kind = s.kind
        settings = SpaceSettings(joinPolicy: JoinPolicy(rawValue: s.joinPolicy) ?? .closed, addPolicy: AddPolicy(rawValue: s.addPolicy) ?? .consent,
                                 seatLimit: s.seatLimit)
        attributes = s.attributeDefinitions
        createdAt = s.createdAt
    }
}

/// `settings` of a space in requests: every field optional.
struct SpaceSettingsPatch: Codable, Sendable {
    var joinPolicy: JoinPolicy?
    var addPolicy: AddPolicy?
    var seatLimit: Int??
    typealias CodingKeys = SpaceSettings.CodingKeys
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        joinPolicy = try c.decodeIfPresent(JoinPolicy.self, forKey: .joinPolicy)
        addPolicy = try c.decodeIfPresent(AddPolicy.self, forKey: .addPolicy)
        seatLimit = c.contains(.seatLimit) ? .some(try c.decodeIfPresent(Int.self, forKey: .seatLimit)) : .none
    }
}

/// `POST /v1/orgs/{org}/spaces` and `PATCH /v1/spaces/{space}`.
struct SpaceRequest: RequestBody {
    static let fields: Set<String> = ["name", "slug", "kind", "settings", "attributes"]
    static let nested: [String: Set<String>] = ["settings": Set(SpaceSettings.CodingKeys.allCases.map(\.rawValue))]
    var name: String?
    var slug: String?
    var kind: String?
    var settings: SpaceSettingsPatch?
    var attributes: [AttributeDefinition]?
}

extension SpaceModel {
    /// The member-attribute definitions.
    var attributeDefinitions: [AttributeDefinition] {
        get { (try? JSONDecoder().decode([AttributeDefinition].self, from: Data(attributes.utf8))) ?? [] }
        set { attributes = String(decoding: (try? JSONEncoder.roster.encode(newValue)) ?? Data("[]".utf8), as: UTF8.self) }
    }

    /// The settings the lifecycle rules use for this space's roster.
    func settings(in org: OrganizationModel) -> ScopeSettings {
        ScopeSettings(joinPolicy: JoinPolicy(rawValue: joinPolicy) ?? .closed, addPolicy: AddPolicy(rawValue: addPolicy) ?? .consent,
                      invitationTTLDays: org.invitationTTLDays, seatLimit: seatLimit)
    }
}

import Foundation

/// Who performed a change, as the audit log records it.
public struct AuditActor: Sendable, Equatable, Hashable {
    /// `account`, `api_key`, `system` or `cli`.
    public var type: String
    /// The account or API key, when there is one.
    public var id: UUID?

    public init(type: String, id: UUID?) {
        self.type = type
        self.id = id
    }

    public static func account(_ id: UUID) -> AuditActor { AuditActor(type: "account", id: id) }
    public static func apiKey(_ id: UUID) -> AuditActor { AuditActor(type: "api_key", id: id) }
    /// Changes made by Roster itself (expiry sweeps).
    public static let system = AuditActor(type: "system", id: nil)
    /// Changes made by an operator through the `roster` command line.
    public static let commandLine = AuditActor(type: "cli", id: nil)
}

/// A roster: an organization's own, or one of its spaces'.
public struct ScopeRef: Sendable, Equatable {
    public var orgID: UUID
    public var spaceID: UUID?
    /// `spaceID ?? orgID`: the key of the roster.
    public var scopeID: UUID { spaceID ?? orgID }
    /// The role ladder members of this scope are ranked on.
    public var ladder: Ladder { spaceID == nil ? .org : .space }

    public init(orgID: UUID, spaceID: UUID? = nil) {
        self.orgID = orgID
        self.spaceID = spaceID
    }
}


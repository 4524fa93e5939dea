import Foundation

/// One event of the membership lifecycle (DESIGN §2), as any door (API, web pages, import, CLI, sweeps) asks for it.
public enum MembershipCommand: Sendable, Equatable {
    /// Invite an email (or add its account at once, under the `direct` add policy).
    case invite(InviteInput)
    /// Send a pending or expired invitation again with a new link; with `newEmail`, to a corrected address instead.
    case resend(UUID, newEmail: String?)
    /// Change the role, external ID or attributes of an active member or a pending invitation.
    case update(UUID, MemberUpdate)
    /// Remove an active member, or revoke a pending invitation.
    case remove(UUID)
    /// The acting person leaves the scope (`facts.target` is their active row).
    case leave
    /// The acting person asks to join.
    case requestToJoin(message: String?)
    /// Approve a pending join request, optionally with another role.
    case approve(UUID, role: String?)
    /// Reject a pending join request.
    case reject(UUID)
    /// The requester withdraws their pending join request.
    case withdraw(UUID)
    /// The invitee accepts the invitation in `facts.target`, found by its id or by its emailed token.
    case accept(InviteeHandle)
    /// The invitee declines the invitation in `facts.target`.
    case decline(InviteeHandle)
    /// An invitation's time is up (the sweep).
    case expire(UUID)
    /// The organization is deleted: every live row in it ends (`facts.endingRows`).
    case deleteOrganization
    /// The space is deleted: every live row of its roster ends (`facts.endingRows`).
    case deleteSpace
    /// The acting person joins through the invite link `facts.link` (or asks to, when it requires approval).
    case joinByLink(UUID)
    /// The acting person joins because their verified email is in a domain the organization verified with the
    /// `auto` policy (`facts.verifiedDomain`).
    case joinByDomain
    /// The organization's identity provider provisions a person (SCIM): an active member when the organization
    /// verified the email's domain, an invitation otherwise; a live row the person already has is adopted.
    case provision(InviteInput)
}

/// How the invitee named the invitation.
public enum InviteeHandle: Sendable, Equatable {
    /// By membership id, signed in with the invited, verified email.
    case id
    /// By the emailed token (its SHA-256), which proves control of the address.
    case token(hash: String)
}

/// What an invitation asks for. `email` is canonical; the other fields are validated.
public struct InviteInput: Sendable, Equatable {
    public var email: String
    public var role: String?
    public var name: String?
    public var externalID: String?
    public var attributes: [String: String]

    public init(email: String, role: String? = nil, name: String? = nil, externalID: String? = nil, attributes: [String: String] = [:]) {
        self.email = email
        self.role = role
        self.name = name
        self.externalID = externalID
        self.attributes = attributes
    }
}

/// What a member update asks for (nil: unchanged; `externalID: .some(nil)` clears it).
public struct MemberUpdate: Sendable, Equatable {
    public var role: String?
    public var externalID: String??
    public var attributes: [String: String]?
    /// The member's name in the roster (`.some(nil)` clears it); an identity provider's door sets it.
    public var name: String??

    public init(role: String? = nil, externalID: String?? = nil, attributes: [String: String]? = nil, name: String?? = nil) {
        self.role = role
        self.externalID = externalID
        self.attributes = attributes
        self.name = name
    }
}

/// A membership row as the lifecycle decides on it.
public struct MembershipFacts: Sendable, Equatable {
    public var id: UUID?
    public var scope: ScopeRef
    public var status: MembershipStatus
    public var source: MembershipSource
    public var roleKey: String
    public var accountID: UUID?
    public var email: String
    public var name: String?
    public var externalID: String?
    public var attributes: [String: String]
    public var expiresAt: Date?

    public init(id: UUID?, scope: ScopeRef, status: MembershipStatus, source: MembershipSource, roleKey: String, accountID: UUID?,
                email: String, name: String? = nil, externalID: String? = nil, attributes: [String: String] = [:], expiresAt: Date? = nil) {
        self.id = id
        self.scope = scope
        self.status = status
        self.source = source
        self.roleKey = roleKey
        self.accountID = accountID
        self.email = email
        self.name = name
        self.externalID = externalID
        self.attributes = attributes
        self.expiresAt = expiresAt
    }

    /// Whether this is a pending invitation whose time is up at `now`: it holds no seat and no address any more, and
    /// expires before a decision that meets it.
    public func isDueInvitation(at now: Date) -> Bool {
        status == .pending && source == .invitation && (expiresAt.map { $0 <= now } ?? false)
    }

    /// The fields the audit log records before and after a change.
    public var auditState: [String: String] {
        var state = ["status": status.rawValue, "source": source.rawValue, "role": roleKey]
        if let externalID { state["external_id"] = externalID }
        if !attributes.isEmpty { state["attributes"] = JSONText.attributes(attributes) }
        return state
    }
}

/// The person acting, when the actor is a person.
public struct ActingPerson: Sendable, Equatable {
    public var id: UUID
    public var email: String
    public var name: String
    public var emailVerified: Bool

    public init(id: UUID, email: String, name: String, emailVerified: Bool) {
        self.id = id
        self.email = email
        self.name = name
        self.emailVerified = emailVerified
    }
}

/// The account an invited email belongs to, when one exists.
public struct InvitedAccount: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var emailVerified: Bool

    public init(id: UUID, name: String, emailVerified: Bool) {
        self.id = id
        self.name = name
        self.emailVerified = emailVerified
    }
}

/// Active rows of an organization's own roster, as last-owner protection counts them.
public struct OwnerCounts: Sendable, Equatable {
    public var members: Int
    public var owners: Int

    public init(members: Int, owners: Int) {
        self.members = members
        self.owners = owners
    }
}

/// Limits the lifecycle enforces.
public struct LifecycleLimits: Sendable, Equatable {
    /// Invitation emails an organization may send in an hour, unless it has its own budget.
    public var invitationsPerHour: Int
    /// The budgets an organization (or the server) may have.
    public static let invitationsPerHourRange = 1...1_000_000
    public var pendingJoinRequestsPerAccount: Int
    /// Reviewers emailed about one join request at most.
    public var reviewerEmails: Int

    public init(invitationsPerHour: Int = 500, pendingJoinRequestsPerAccount: Int = 1, reviewerEmails: Int = 50) {
        self.invitationsPerHour = invitationsPerHour
        self.pendingJoinRequestsPerAccount = pendingJoinRequestsPerAccount
        self.reviewerEmails = reviewerEmails
    }
}

/// Fresh values a decision may use: an id for a new row and an invitation token. Made by the caller (the engine
/// draws no randomness).
public struct FreshValues: Sendable, Equatable {
    public var id: UUID
    public var token: String
    public var tokenHash: String
    /// An id for an account a decision creates (provisioning).
    public var accountID: UUID
    /// The password hash of an account a decision creates: of a secret nobody knows (they choose a password by a
    /// reset link).
    public var unusablePasswordHash: String

    public init(id: UUID, token: String, tokenHash: String, accountID: UUID = UUID(), unusablePasswordHash: String = "") {
        self.id = id
        self.token = token
        self.tokenHash = tokenHash
        self.accountID = accountID
        self.unusablePasswordHash = unusablePasswordHash
    }

    /// For decisions that create nothing (expiry, deletions).
    public static let unused = FreshValues(id: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), token: "", tokenHash: "")
}

/// Everything a decision rests on, read under the organization's lock by the store.
public struct ScopeFacts: Sendable, Equatable {
    public var scope: ScopeRef
    public var actor: AuditActor
    /// The acting person, when the actor is one.
    public var person: ActingPerson?
    /// A name for the actor in emails ("Ada Lovelace", or an API key's name).
    public var actorName: String
    public var authority: Authority
    public var ladder: RoleLadder
    public var settings: ScopeSettings
    public var attributeDefinitions: [AttributeDefinition] = []
    public var orgName: String
    public var orgSlug: String
    public var spaceName: String?
    /// Whether the acting person is an active member of the organization (spaces take requests only from them).
    public var isOrgMember = false

    /// The row the command names (by id or token), when it is in this scope.
    public var target: MembershipFacts?
    /// The live row of the scope held by the email (or account) the command is about: invite, resend to a new
    /// address, request to join.
    public var existing: MembershipFacts?
    /// The account holding the invited email, if any.
    public var invitedAccount: InvitedAccount?
    /// The live row of the scope holding the external ID the command would set, if any.
    public var externalIDHolder: MembershipFacts?
    /// Active rows of the organization's own roster.
    public var ownerCounts = OwnerCounts(members: 0, owners: 0)
    /// Live rows of the scope (seat limit).
    public var liveRows = 0
    /// The organization's invitation-email budget, with the slots its recent invitation emails took.
    public var invitationBudget = InvitationBudget(perHour: LifecycleLimits().invitationsPerHour)
    /// Pending join requests the acting person has anywhere.
    public var pendingJoinRequestsOfPerson = 0
    /// Who is told of a new join request.
    public var reviewerEmails: [String] = []
    /// The invite link a join names, read under the lock.
    public var link: InviteLinkFacts?
    /// The organization's verified domain holding the acting person's verified email (organization rosters only).
    public var verifiedDomain: VerifiedDomainFacts?
    /// Whether the organization verified the domain of the email the command is about (provisioning).
    public var emailDomainVerified = false
    /// Whether the acting person's membership here ended before by someone's decision (they left, were removed,
    /// declined or were rejected): joining by domain does not bring them back.
    public var endedBefore = false
    /// How the acting person's latest ended row here ended (joining by link: after an admin removed or rejected
    /// them, a link does not bring them back).
    public var lastEnding: MembershipStatus?
    /// Rows that end with the command: the target person's live rows in the org's spaces (an org row ending), the
    /// org's or space's live rows (deletions), the organization's other live rows (its last member leaving).
    public var endingRows: [MembershipFacts] = []
    public var limits = LifecycleLimits()

    public init(scope: ScopeRef, actor: AuditActor, person: ActingPerson?, actorName: String, authority: Authority, ladder: RoleLadder,
                settings: ScopeSettings, orgName: String, orgSlug: String, spaceName: String? = nil) {
        self.scope = scope
        self.actor = actor
        self.person = person
        self.actorName = actorName
        self.authority = authority
        self.ladder = ladder
        self.settings = settings
        self.orgName = orgName
        self.orgSlug = orgSlug
        self.spaceName = spaceName
    }

    /// The facts of a system sweep on one row (expiry): no actor authority, only the row.
    public static func sweep(of row: MembershipFacts) -> ScopeFacts {
        var facts = ScopeFacts(scope: row.scope, actor: .system, person: nil, actorName: "Roster", authority: .none,
                               ladder: RoleLadder(row.scope.ladder, roles: []), settings: ScopeSettings(), orgName: "", orgSlug: "")
        facts.target = row
        return facts
    }
}

/// Everything an account's deletion rests on, read under the locks of every organization involved.
public struct AccountDeletionFacts: Sendable, Equatable {
    public var accountID: UUID
    /// Every live row the account holds, and pending invitations to its verified email.
    public var rows: [MembershipFacts]
    /// The counts of each organization where the account holds an active org row.
    public var organizations: [UUID: OwnerCounts]
    /// The other live rows of organizations where the account is the only active member (they end with it).
    public var rowsOfEmptiedOrganizations: [UUID: [MembershipFacts]]

    public init(accountID: UUID, rows: [MembershipFacts], organizations: [UUID: OwnerCounts], rowsOfEmptiedOrganizations: [UUID: [MembershipFacts]]) {
        self.accountID = accountID
        self.rows = rows
        self.organizations = organizations
        self.rowsOfEmptiedOrganizations = rowsOfEmptiedOrganizations
    }
}

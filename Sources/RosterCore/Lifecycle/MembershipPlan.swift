import Foundation

/// Everything one lifecycle decision writes (DESIGN §7): guarded row changes, new rows, audit events, emails,
/// superseded emails and deletions. Made by `Lifecycle.decide`, applied in one transaction by the store.
public struct MembershipPlan: Sendable, Equatable {
    /// A consume-once change of one row: applied only while the row is still in `from` with `source` (and
    /// matches `guards`), as `UPDATE … WHERE id = ? AND status = ? AND source = ? … RETURNING`.
    public struct Update: Sendable, Equatable {
        public var id: UUID
        public var from: MembershipStatus
        public var source: MembershipSource
        public var to: MembershipStatus
        public var set: MembershipChanges
        /// Further conditions the row must still meet.
        public var guards: [Guard]

        public init(id: UUID, from: MembershipStatus, source: MembershipSource, to: MembershipStatus,
                    set: MembershipChanges = MembershipChanges(), guards: [Guard] = []) {
            self.id = id
            self.from = from
            self.source = source
            self.to = to
            self.set = set
            self.guards = guards
        }
    }

    /// A condition of a guarded update beyond status and source.
    public enum Guard: Sendable, Equatable {
        /// `expires_at > date` (an invitation still open).
        case expiresAfter(Date)
        /// `expires_at <= date` (an invitation whose time is up).
        case expiredBy(Date)
        /// `email = value`.
        case email(String)
        /// `account_id = value`.
        case account(UUID)
        /// `token_hash = value` (the emailed link was not replaced by a resend).
        case tokenHash(String)
    }

    /// A new membership row.
    public struct NewRow: Sendable, Equatable {
        public var id: UUID
        public var scope: ScopeRef
        public var email: String
        public var name: String?
        public var roleKey: String
        public var status: MembershipStatus
        public var source: MembershipSource
        public var accountID: UUID?
        public var externalID: String?
        public var attributes: [String: String]
        public var invitedBy: UUID?
        public var tokenHash: String?
        public var expiresAt: Date?
        public var deliveryStatus: String?
        /// When its invitation email goes (the organization's budget may hold it back).
        public var deliveryAt: Date?
        public var message: String?
        /// The invite link it came through.
        public var inviteLinkID: UUID?

        /// The row as the lifecycle sees it once written.
        public var facts: MembershipFacts {
            MembershipFacts(id: id, scope: scope, status: status, source: source, roleKey: roleKey, accountID: accountID, email: email,
                            name: name, externalID: externalID, attributes: attributes, expiresAt: expiresAt)
        }
    }

    /// One audit event.
    public struct AuditEntry: Sendable, Equatable {
        public var action: String
        public var actor: AuditActor
        public var scope: ScopeRef
        public var membershipID: UUID?
        public var targetAccountID: UUID?
        public var targetEmail: String?
        public var before: [String: String]?
        public var after: [String: String]?

        public init(action: String, actor: AuditActor, scope: ScopeRef, membershipID: UUID?, targetAccountID: UUID?, targetEmail: String?,
                    before: [String: String]?, after: [String: String]?) {
            self.action = action
            self.actor = actor
            self.scope = scope
            self.membershipID = membershipID
            self.targetAccountID = targetAccountID
            self.targetEmail = targetEmail
            self.before = before
            self.after = after
        }

        /// The audit event of `event` moving `before` to `after` (either may be nil: a new row, or no row).
        public static func membership(_ event: MembershipEvent, actor: AuditActor, before: MembershipFacts?, after: MembershipFacts) -> AuditEntry {
            AuditEntry(action: event.rawValue, actor: actor, scope: after.scope, membershipID: after.id,
                       targetAccountID: after.accountID, targetEmail: after.email, before: before?.auditState, after: after.auditState)
        }
    }

    /// An email queued in the same transaction.
    public struct Email: Sendable, Equatable {
        public var message: QueuedEmail
        public var orgID: UUID
        public var membershipID: UUID?
        /// The slot the organization's invitation budget gave this email (nil: not an invitation, sent at once).
        public var sendAt: Date?
    }

    /// An account a plan creates (provisioning): its email verified, its password unusable until reset.
    public struct NewAccount: Sendable, Equatable {
        public var id: UUID
        public var email: String
        public var name: String
        public var passwordHash: String
    }

    public var updates: [Update] = []
    public var accounts: [NewAccount] = []
    public var inserts: [NewRow] = []
    public var audit: [AuditEntry] = []
    public var emails: [Email] = []
    /// Memberships whose undelivered invitation emails are superseded (their link is dead).
    public var supersede: [UUID] = []
    /// An account whose email is now verified (an emailed token proved control of it).
    public var verifyEmailOf: UUID?
    /// Organizations soft-deleted by this plan.
    public var deleteOrganizations: [UUID] = []
    /// A space soft-deleted by this plan.
    public var deleteSpace: UUID?
    /// An account deleted by this plan.
    public var deleteAccount: UUID?
    /// An invite link one more use of which this plan takes (refused, with `lostRace`, when it has none left).
    public var useLink: UUID?
    /// The row the command is about (for the response), once applied.
    public var result: UUID?
    /// The refusal to answer when a guarded update finds its row changed (the engine's answer on the state after).
    public var lostRace = RosterError(.conflict, "The membership changed meanwhile; try again.")

    public init() {}

    /// Whether the plan writes nothing (an idempotent repeat).
    public var isEmpty: Bool {
        onlyAdds && accounts.isEmpty && inserts.isEmpty && audit.isEmpty && emails.isEmpty
    }

    /// Whether the plan only adds (new accounts, rows, emails and audit events): it changes, ends or deletes nothing,
    /// so its writes may join other plans' in one statement (`AddedPlans`).
    public var onlyAdds: Bool {
        updates.isEmpty && supersede.isEmpty && verifyEmailOf == nil && deleteOrganizations.isEmpty && deleteSpace == nil
            && deleteAccount == nil && useLink == nil
    }

    /// The live rows (active or pending) the plan inserts into the scope `scopeID`: seats it takes there.
    public func liveRowsAdded(scopeID: UUID) -> Int {
        inserts.count { $0.scope.scopeID == scopeID && $0.status.isLive }
    }

    /// Whether applying the plan may change what someone may do (what access caches hold): an active row added,
    /// changed or ended, an account created, verified or deleted, a space or organization deleted. Pending rows,
    /// their endings, emails and audit events change nobody's access.
    public var changesAccess: Bool {
        updates.contains { $0.from == .active || $0.to == .active } || inserts.contains { $0.status == .active } || !accounts.isEmpty
            || verifyEmailOf != nil || !deleteOrganizations.isEmpty || deleteSpace != nil || deleteAccount != nil
    }

    /// Adds a guarded transition of `row` to `to` with `changes`, and its audit event.
    public mutating func transition(_ row: MembershipFacts, to: MembershipStatus, event: MembershipEvent, actor: AuditActor,
                             set changes: MembershipChanges = MembershipChanges(), guards: [Guard] = []) {
        guard let id = row.id else { return }
        updates.append(Update(id: id, from: row.status, source: row.source, to: to, set: changes, guards: guards))
        var after = changes.applied(to: row)
        after.status = to
        audit.append(.membership(event, actor: actor, before: row, after: after))
    }

    /// Adds a new row and its audit event.
    public mutating func insert(_ row: NewRow, event: MembershipEvent, actor: AuditActor) {
        inserts.append(row)
        audit.append(.membership(event, actor: actor, before: nil, after: row.facts))
    }
}

/// The columns a guarded update sets besides its status (nil: unchanged).
public struct MembershipChanges: Sendable, Equatable {
    public var roleKey: String?
    public var externalID: String??
    public var attributes: [String: String]?
    public var name: String??
    public var accountID: UUID?
    public var tokenHash: String?
    public var expiresAt: Date?
    /// `queued` for a (re)sent invitation.
    public var deliveryStatus: String?
    /// When the (re)sent invitation's email goes.
    public var deliveryAt: Date?
    /// Clears `ended_at` (a resend reopening an expired invitation).
    public var reopen = false

    public init(roleKey: String? = nil, externalID: String?? = nil, attributes: [String: String]? = nil, name: String?? = nil,
                accountID: UUID? = nil, tokenHash: String? = nil, expiresAt: Date? = nil, deliveryStatus: String? = nil, deliveryAt: Date? = nil,
                reopen: Bool = false) {
        self.roleKey = roleKey
        self.externalID = externalID
        self.attributes = attributes
        self.name = name
        self.accountID = accountID
        self.tokenHash = tokenHash
        self.expiresAt = expiresAt
        self.deliveryStatus = deliveryStatus
        self.deliveryAt = deliveryAt
        self.reopen = reopen
    }

    /// `row` with these changes.
    public func applied(to row: MembershipFacts) -> MembershipFacts {
        var row = row
        if let roleKey { row.roleKey = roleKey }
        if let externalID { row.externalID = externalID }
        if let attributes { row.attributes = attributes }
        if let name { row.name = name }
        if let accountID { row.accountID = accountID }
        if let expiresAt { row.expiresAt = expiresAt }
        return row
    }
}

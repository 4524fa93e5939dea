import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

extension MembershipStore {
    /// Reads what `command` is decided on into `base` (which holds the scope, the actor and its authority). Runs
    /// inside the write transaction, after the organization's lock was taken, so the decision rests on the state
    /// every earlier change left.
    /// `invitee`, read before the lock (`inviteeFacts`), stands for those facts of an invitation or provisioning;
    /// `emailDomainVerified`, read with the lock, for whether the organization verified a provisioned email's domain.
    /// `invitationBudget`, when given, is the organization's budget as earlier commands of this transaction left it;
    /// otherwise it is read, good for `budgetTakes` emails. `liveRows`, when given, is the scope's live rows as
    /// earlier commands of this transaction left them, after the first of them expired its due invitations (a seat
    /// limit's count; an invitation falling due since then still holds its seat, which refuses, never admits, more);
    /// otherwise the due invitations expire and the rows are counted.
    public func load(_ command: MembershipCommand, into base: ScopeFacts, now: Date, invitee early: InviteeFacts? = nil,
                     emailDomainVerified: Bool? = nil, invitationBudget given: InvitationBudget? = nil,
                     budgetTakes: Int = 1, liveRows givenSeats: Int? = nil) async throws -> ScopeFacts {
        var facts = base, given = given
        let scope = base.scope
        func target(_ id: UUID) async throws -> MembershipFacts? { try await row(id: id, scopeID: scope.scopeID)?.facts }
        func seatsTaken() async throws -> Int {
            if let givenSeats { return givenSeats }
            return base.settings.seatLimit == nil ? 0 : try await liveCount(scopeID: scope.scopeID)
        }
        func invitationBudget() async throws -> InvitationBudget {
            if let given { return given }
            return try await Outbox(db).invitationBudget(orgID: scope.orgID, perHour: base.invitationBudget.perHour, now: now, takes: budgetTakes)
        }
        func account(holding email: String) async throws -> AccountModel? {
            try await AccountModel.query(on: db).filter(\.$email == email).first()
        }
        /// The person's pending join requests everywhere, counted under their account's lock (two requests at once
        /// cannot both pass the per-account limit).
        func pendingJoinRequests(of person: ActingPerson) async throws -> Int {
            try await AccountStore(db).lockAccount(person.id)
            return try await MembershipModel.query(on: db)
                .filter(\.$accountID == person.id)
                .filter(\.$status == MembershipStatus.pending.rawValue)
                .filter(\.$source == MembershipSource.joinRequest.rawValue)
                .count()
        }
        func ownerCounts() async throws -> OwnerCounts {
            guard scope.spaceID == nil else { return OwnerCounts(members: 0, owners: 0) }
            let counts = try await activeCounts(orgID: scope.orgID)
            return OwnerCounts(members: counts.members, owners: counts.owners)
        }
        switch command {
        case .invite(let input), .provision(let input):
            var invitee: InviteeFacts
            if let early { invitee = early } else { invitee = try await inviteeFacts(input, scope: scope) }
            // An invitation whose time is up holds no seat and no address: when one is in the way (facts read before
            // the lock never hold one), or seats are counted, the scope's due invitations expire first.
            let inTheWay = invitee.dueInvitationInTheWay(now: now)
            if inTheWay || (base.settings.seatLimit != nil && givenSeats == nil), try await expireInvitations(scopeID: scope.scopeID, now: now) > 0 {
                // Their unsent emails gave their slots back: the budget is read again.
                given = nil
                if inTheWay { invitee = try await inviteeFacts(input, scope: scope) }
            }
            facts.invitedAccount = invitee.account
            facts.existing = invitee.existing
            facts.externalIDHolder = invitee.externalIDHolder
            facts.liveRows = try await seatsTaken()
            // Under the lock: removing a domain or losing it on a re-check changes nothing an index would catch.
            if case .provision = command, let domain = DomainName.of(email: input.email) {
                if let emailDomainVerified {
                    facts.emailDomainVerified = emailDomainVerified
                } else {
                    facts.emailDomainVerified = try await domainVerified(orgID: scope.orgID, domain: domain)
                }
            }
            // Provisioning a verified address of a verified domain sends no invitation: its budget is not read.
            if !facts.emailDomainVerified || facts.invitedAccount?.emailVerified == false {
                facts.invitationBudget = try await invitationBudget()
            }
        case .resend(let id, let newEmail):
            facts.target = try await target(id)
            if let newEmail, let row = facts.target, newEmail != row.email {
                let account = try await account(holding: newEmail)
                facts.existing = try await liveRow(scopeID: scope.scopeID, email: newEmail, accountID: account?.id)?.facts
            }
            if let externalID = facts.target?.externalID { facts.externalIDHolder = try await externalIDHolder(scopeID: scope.scopeID, externalID) }
            facts.liveRows = try await seatsTaken()
            facts.invitationBudget = try await invitationBudget()
        case .update(let id, let update):
            facts.target = try await target(id)
            facts.ownerCounts = try await ownerCounts()
            if case .some(.some(let externalID)) = update.externalID {
                facts.externalIDHolder = try await externalIDHolder(scopeID: scope.scopeID, externalID)
            }
        case .remove(let id):
            facts.target = try await target(id)
            facts.ownerCounts = try await ownerCounts()
            if let row = facts.target, scope.spaceID == nil, row.status == .active { facts.endingRows = try await spaceRows(of: row) }
        case .leave:
            if let person = base.person {
                facts.target = try await MembershipModel.query(on: db)
                    .filter(\.$scopeID == scope.scopeID).filter(\.$accountID == person.id)
                    .filter(\.$status == MembershipStatus.active.rawValue).first()?.facts
            }
            facts.ownerCounts = try await ownerCounts()
            if let row = facts.target, scope.spaceID == nil {
                facts.endingRows = facts.ownerCounts.members == 1 ? try await liveRows(orgID: scope.orgID) : try await spaceRows(of: row)
            }
        case .requestToJoin:
            guard let person = base.person else { break }
            facts.existing = try await liveRow(scopeID: scope.scopeID, email: person.email, accountID: person.id)?.facts
            facts.pendingJoinRequestsOfPerson = try await pendingJoinRequests(of: person)
            facts.liveRows = try await seatsTaken()
            facts.reviewerEmails = try await reviewerEmails(scope: scope, ladder: base.ladder, limit: base.limits.reviewerEmails)
            facts.verifiedDomain = try await DomainStore(db).verifiedDomain(of: person, orgScope: scope)
        case .joinByDomain:
            guard let person = base.person else { break }
            facts.verifiedDomain = try await DomainStore(db).verifiedDomain(of: person, orgScope: scope)
            facts.existing = try await liveRow(scopeID: scope.scopeID, email: person.email, accountID: person.id)?.facts
            facts.endedBefore = try await MembershipModel.query(on: db)
                .filter(\.$scopeID == scope.scopeID)
                .filter(\.$status ~~ DomainStore.statusesThatKeepOut.map(\.rawValue))
                .group(.or) { $0.filter(\.$accountID == person.id).filter(\.$email == person.email) }
                .count() > 0
            facts.liveRows = try await seatsTaken()
        case .approve(let id, _), .reject(let id), .withdraw(let id), .expire(let id):
            facts.target = try await target(id)
        case .accept, .decline:
            // The invitee's row was found by id or token before the lock; read it again under it.
            if let id = base.target?.id { facts.target = try await MembershipModel.find(id, on: db)?.facts }
        case .joinByLink(let id):
            facts.link = try await InviteLinkModel.query(on: db).filter(\.$id == id).filter(\.$scopeID == scope.scopeID).first()?.facts
            if let person = base.person {
                facts.existing = try await liveRow(scopeID: scope.scopeID, email: person.email, accountID: person.id)?.facts
                facts.lastEnding = try await MembershipModel.query(on: db)
                    .filter(\.$scopeID == scope.scopeID)
                    .filter(\.$status !~ MembershipStatus.live.map(\.rawValue))
                    .group(.or) { $0.filter(\.$accountID == person.id).filter(\.$email == person.email) }
                    .sort(\.$endedAt, .descending).sort(\.$updatedAt, .descending)
                    .first().flatMap { MembershipStatus(rawValue: $0.status) }
            }
            facts.liveRows = try await seatsTaken()
            if facts.link?.requiresApproval == true {
                if let person = base.person { facts.pendingJoinRequestsOfPerson = try await pendingJoinRequests(of: person) }
                facts.reviewerEmails = try await reviewerEmails(scope: scope, ladder: base.ladder, limit: base.limits.reviewerEmails)
            }
        case .deleteOrganization:
            facts.endingRows = try await liveRows(orgID: scope.orgID)
        case .deleteSpace:
            facts.endingRows = try await MembershipModel.query(on: db)
                .filter(\.$scopeID == scope.scopeID).filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).all().map(\.facts)
        }
        return facts
    }

    /// The invitee's facts of an invitation or provisioning, read before the organization's lock (nil for other
    /// commands, and when a due invitation is in the way: expiring it needs the lock). What a concurrent change
    /// makes stale here, a unique index, a guarded transition or the check of an adopted row refuses (`StaleFacts`);
    /// a refusal decided on them is one the command would have met just before that change.
    public func inviteeFacts(_ command: MembershipCommand, scope: ScopeRef, now: Date) async throws -> InviteeFacts? {
        guard !WriteTransactionScope.readsEverythingUnderLock else { return nil }
        switch command {
        case .invite(let input), .provision(let input):
            let facts = try await inviteeFacts(input, scope: scope)
            return facts.dueInvitationInTheWay(now: now) ? nil : facts
        default:
            return nil
        }
    }

    private func inviteeFacts(_ input: InviteInput, scope: ScopeRef) async throws -> InviteeFacts {
        let rows = try await db.preparedSQL.raw(inviteeQuery(email: input.email, externalID: input.externalID, scope: scope)).all()
        var facts = InviteeFacts()
        guard let first = rows.first else { return facts }
        if let id = try first.decode(column: "invitee_account_id", as: UUID?.self) {
            facts.account = InvitedAccount(id: id, name: try first.decode(column: "invitee_account_name", as: String.self),
                                           emailVerified: try first.decode(column: "invitee_account_verified_at", as: Date?.self) != nil)
        }
        for row in rows where try row.decode(column: "id", as: UUID?.self) != nil {
            let membership = try row.decode(fluentModel: MembershipModel.self).facts
            if facts.existing == nil, membership.email == input.email || (membership.accountID != nil && membership.accountID == facts.account?.id) {
                facts.existing = membership
            }
            if let externalID = input.externalID, membership.externalID == externalID { facts.externalIDHolder = membership }
        }
        return facts
    }

    /// The statement of `inviteeFacts` (pinned in tests): in one round trip, the account holding `email` and the
    /// scope's live rows held by that email, that account or `externalID` (a row each, one index lookup each, or one
    /// row of nulls).
    ///
    /// The account's rows are looked up by account, the scope compared after (`IS NOT DISTINCT FROM`, which no index
    /// serves): PostgreSQL plans a prepared statement once per connection, and a plan made while the table was small
    /// could otherwise walk the whole scope by `scope_id` for it (measured: 1.1 ms a create after 10,000 creates
    /// into a new organization, until autovacuum analyzed the table).
    public func inviteeQuery(email: String, externalID: String?, scope: ScopeRef) -> SQLQueryString {
        let rows = "SELECT \(unsafeRaw: MembershipModel.columnList) FROM memberships WHERE" as SQLQueryString
        let live = "\(rows) scope_id = \(bind: scope.scopeID) AND status IN ('pending', 'active') AND" as SQLQueryString
        return """
            SELECT accounts.id AS invitee_account_id, accounts.name AS invitee_account_name, \
            accounts.email_verified_at AS invitee_account_verified_at, held.* \
            FROM (SELECT 1 AS one) AS invitee LEFT JOIN accounts ON accounts.email = \(bind: email) \
            LEFT JOIN (\(live) email = \(bind: email) \
            UNION ALL \(rows) account_id = (SELECT id FROM accounts WHERE email = \(bind: email)) \
            AND status IN ('pending', 'active') AND scope_id IS NOT DISTINCT FROM \(bind: scope.scopeID) \
            UNION ALL \(live) external_id = \(bind: externalID)) AS held ON 1 = 1
            """
    }

    /// Reads what deleting `account` is decided on, after locking every organization involved (in a fixed order)
    /// and reading the rows again under the locks.
    public func loadAccountDeletion(accountID: UUID, email: String, ownsEmail: Bool) async throws -> AccountDeletionFacts {
        @Sendable func rows() async throws -> [MembershipModel] {
            try await MembershipModel.query(on: db)
                .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue))
                .group(.or) { group in
                    group.filter(\.$accountID == accountID)
                    // Invitations to the address are the account's only once it proved the address is its own.
                    if ownsEmail {
                        group.group(.and) {
                            $0.filter(\.$email == email).filter(\.$source == MembershipSource.invitation.rawValue)
                                .filter(\.$status == MembershipStatus.pending.rawValue)
                        }
                    }
                }
                .all()
        }
        // Lock every live organization involved, in a fixed order, then read the rows again under the locks; a row
        // that appeared meanwhile in another organization brings its lock in too, until nothing new appears.
        // Rows under deleted organizations end as well (nothing else writes there any more).
        var seen = Set<UUID>(), live = Set<UUID>()
        var held = try await rows()
        while case let new = Set(held.map(\.orgID)).subtracting(seen), !new.isEmpty {
            for orgID in new.sorted(by: { $0.uuidString < $1.uuidString }) {
                if (try? await lockOrganization(orgID)) != nil { live.insert(orgID) }
                seen.insert(orgID)
            }
            held = try await rows()
        }
        let heldFacts = held.map(\.facts)
        var organizations: [UUID: OwnerCounts] = [:]
        var emptied: [UUID: [MembershipFacts]] = [:]
        // Last-owner protection and "the last member takes the organization along" concern live organizations only.
        for row in heldFacts where row.scope.spaceID == nil && row.status == .active && live.contains(row.scope.orgID) {
            let counts = try await activeCounts(orgID: row.scope.orgID)
            organizations[row.scope.orgID] = OwnerCounts(members: counts.members, owners: counts.owners)
            if counts.members == 1 { emptied[row.scope.orgID] = try await liveRows(orgID: row.scope.orgID) }
        }
        return AccountDeletionFacts(accountID: accountID, rows: heldFacts, organizations: organizations, rowsOfEmptiedOrganizations: emptied)
    }

    /// The live row of the scope holding `externalID`, if any.
    func externalIDHolder(scopeID: UUID, _ externalID: String) async throws -> MembershipFacts? {
        try await MembershipModel.query(on: db)
            .filter(\.$scopeID == scopeID).filter(\.$externalID == externalID)
            .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).first()?.facts
    }

    /// The live rows of the organization's spaces (a sync's cascade).
    public func liveSpaceRows(orgID: UUID) async throws -> [MembershipFacts] {
        try await MembershipModel.query(on: db).filter(\.$orgID == orgID).filter(\.$spaceID != nil)
            .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).all().map(\.facts)
    }

    /// Every live row of an organization and its spaces.
    func liveRows(orgID: UUID) async throws -> [MembershipFacts] {
        try await MembershipModel.query(on: db)
            .filter(\.$orgID == orgID).filter(\.$status ~~ MembershipStatus.live.map(\.rawValue)).all().map(\.facts)
    }

    /// The live rows in the organization's spaces of the person holding the org row `row`: rows linked to their
    /// account, and pending invitations to their email.
    func spaceRows(of row: MembershipFacts) async throws -> [MembershipFacts] {
        try await MembershipModel.query(on: db)
            .filter(\.$orgID == row.scope.orgID)
            .filter(\.$spaceID != nil)
            .filter(\.$status ~~ MembershipStatus.live.map(\.rawValue))
            .group(.or) { group in
                if let accountID = row.accountID { group.filter(\.$accountID == accountID) }
                group.group(.and) {
                    $0.filter(\.$email == row.email).filter(\.$source == MembershipSource.invitation.rawValue)
                        .filter(\.$status == MembershipStatus.pending.rawValue)
                }
            }
            .all().map(\.facts)
    }

    /// The emails of who reviews join requests of `scope`: its members holding `requests.review`, and for a space
    /// its organization's owners and admins (at most `limit`).
    func reviewerEmails(scope: ScopeRef, ladder: RoleLadder, limit: Int) async throws -> [String] {
        let reviewerRoles = ladder.roles.filter { $0.permissions.contains(.requestsReview) }.map(\.key)
        let orgLadder = scope.spaceID == nil ? ladder : try await self.ladder(orgID: scope.orgID, .org)
        // Org roles that review a space's requests through the space (the one rule of `Authority.onSpace`).
        let orgReviewerRoles = orgLadder.roles
            .filter { Authority.onSpace(orgRole: $0, spaceRole: nil).permissions.contains(.requestsReview) }.map(\.key)
        let reviewers = try await MembershipModel.query(on: db)
            .filter(\.$status == MembershipStatus.active.rawValue)
            .group(.or) { group in
                group.group(.and) { $0.filter(\.$scopeID == scope.scopeID).filter(\.$roleKey ~~ reviewerRoles) }
                if scope.spaceID != nil {
                    group.group(.and) { $0.filter(\.$scopeID == scope.orgID).filter(\.$roleKey ~~ orgReviewerRoles) }
                }
            }
            .limit(limit)
            .all()
        return Set(reviewers.map(\.email)).sorted()
    }
}

/// What an invitation or provisioning is decided on about the invitee: their account, and the live rows holding
/// their address or the external ID.
public struct InviteeFacts: Sendable {
    var account: InvitedAccount?
    var existing: MembershipFacts?
    var externalIDHolder: MembershipFacts?

    func dueInvitationInTheWay(now: Date) -> Bool {
        [existing, externalIDHolder].contains { $0?.isDueInvitation(at: now) == true }
    }
}

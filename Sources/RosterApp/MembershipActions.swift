import Vapor
import Fluent
import RosterCore
import RosterStore

/// The lifecycle transitions of DESIGN §2, each decided by `Lifecycle` and applied in one transaction.
struct MembershipActions: Sendable {
    let req: Request
    let context: ScopeContext

    private var now: Date { Date() }

    // MARK: Invite / add

    func invite(_ body: InviteMemberRequest) async throws -> MembershipModel {
        let email = try MemberFields.email(body.email)
        let role = try context.ladder.roleOrDefault(body.role)
        let name = try MemberFields.name(body.name)
        let externalID = try MemberFields.externalID(body.externalID)
        let attributes = MemberFields.json(try AttributeDefinition.resolve(body.attributes ?? [:], definitions: context.attributeDefinitions))
        let unlocked = self.context, requestID = req.id, now = self.now
        let limits = req.application.roster.limits
        return try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let context = try await unlocked.locked(on: db)
            try await store.expireInvitations(scopeID: context.scope.scopeID, now: now)
            let account = try await AccountStore(db).account(email: email)
            let existing = try await store.liveRow(scopeID: context.scope.scopeID, email: email.value, accountID: account?.id)
            let direct = context.settings.addPolicy == .direct && context.authority.permissions.contains(.membersAddDirect)
                && account?.emailVerifiedAt != nil
            let outcome = try Lifecycle.invite(authority: context.authority, role: role, existing: existing?.facts, direct: direct)

            if outcome == .activateJoinRequest, let existing, let id = existing.id {
                guard let activated = try await store.transition(
                    id: id, from: [.pending], source: .joinRequest, to: .active, now: now,
                    set: ["role_key": role.key, "external_id": externalID ?? existing.externalID, "name": name ?? existing.name])
                else { throw RosterError(.conflict, "The join request changed meanwhile; try again.") }
                try await AuditLog(db).record(.mutualIntent, actor: context.actor, membership: activated,
                                              before: existing.auditState, after: activated.auditState, requestID: requestID, at: now)
                try await Outbox(db).enqueue(
                    EmailTemplates.joinRequestDecided(to: activated.email, approved: true, organization: context.org.name, space: context.spaceName, roleName: role.name),
                    orgID: context.scope.orgID, membershipID: id, now: now)
                return activated
            }

            try await Self.requireSeat(store, context: context)
            let row = MembershipModel(scope: context.scope, email: email.value, name: name, roleKey: role.key, status: .pending,
                                      source: .invitation, externalID: externalID, attributes: attributes, now: now)
            row.invitedBy = context.actor.id
            if direct, let account {
                row.accountID = account.id
                row.name = name ?? account.name
                row.status = MembershipStatus.active.rawValue
                row.source = MembershipSource.direct.rawValue
                try await row.create(on: db)
                try await AuditLog(db).record(.added, actor: context.actor, membership: row, before: nil, after: row.auditState, requestID: requestID, at: now)
                return row
            }
            try await Self.requireInvitationQuota(db, context: context, limits: limits, now: now)
            let token = Secret.generate()
            row.tokenHash = Secret.hash(token)
            row.expiresAt = Lifecycle.expiry(from: now, ttlDays: context.settings.invitationTTLDays)
            row.deliveryStatus = "queued"
            try await row.create(on: db)
            try await AuditLog(db).record(.invited, actor: context.actor, membership: row, before: nil, after: row.auditState, requestID: requestID, at: now)
            try await Self.queueInvitation(db, context: context, to: email.value, role: role, token: token, expiresAt: row.expiresAt ?? now,
                                           membershipID: row.id, now: now)
            return row
        }
    }

    /// 409 `seat_limit` when the scope's live rows (active and pending) fill its seats.
    private static func requireSeat(_ store: MembershipStore, context: ScopeContext) async throws {
        if let seatLimit = context.settings.seatLimit, try await store.liveCount(scopeID: context.scope.scopeID) >= seatLimit {
            throw RosterError(.seatLimit, "This roster has reached its seat limit of \(seatLimit) (active and pending).")
        }
    }

    /// 429 `rate_limited` when the organization queued its hourly allowance of invitation emails (DESIGN §3).
    private static func requireInvitationQuota(_ db: any Database, context: ScopeContext, limits: RosterLimits, now: Date) async throws {
        let sentLastHour = try await Outbox(db).invitationsQueued(orgID: context.scope.orgID, since: now.addingTimeInterval(-3600))
        if sentLastHour >= limits.invitationsPerHour {
            throw RosterError(.rateLimited, "This organization has sent \(limits.invitationsPerHour) invitations in the last hour; try again later.", retryAfter: 3600)
        }
    }

    /// Queues the invitation email with its one-time link.
    private static func queueInvitation(
        _ db: any Database, context: ScopeContext, to email: String, role: RoleDefinition, token: String, expiresAt: Date,
        membershipID: UUID?, now: Date
    ) async throws {
        try await Outbox(db).enqueue(
            EmailTemplates.invitation(to: email, inviterName: context.actorName, organization: context.org.name, space: context.spaceName,
                                      roleName: role.name, token: token, expiresAt: expiresAt),
            orgID: context.scope.orgID, membershipID: membershipID, now: now)
    }

    // MARK: Admin-side changes of one row

    /// Resends a pending or expired invitation with a new link. With a different `email` (a corrected address, e.g.
    /// after the first one bounced), the old invitation is revoked and a new one with the same role, name, external
    /// ID and attributes goes to the new address instead.
    func resend(id: UUID, to newEmail: EmailAddress? = nil) async throws -> MembershipModel {
        let unlocked = self.context, requestID = req.id, now = self.now
        let limits = req.application.roster.limits
        return try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let context = try await unlocked.locked(on: db)
            try await store.expireInvitations(scopeID: context.scope.scopeID, now: now)
            guard let row = try await store.row(id: id, scopeID: context.scope.scopeID), context.authority.canSee else { throw RosterError.notFound }
            let role = try context.ladder.require(row.roleKey)
            try Lifecycle.revoke(authority: context.authority, role: role)
            guard row.source == MembershipSource.invitation.rawValue, [MembershipStatus.pending.rawValue, MembershipStatus.expired.rawValue].contains(row.status) else {
                throw RosterError(.conflict, "Only pending or expired invitations can be resent; this row is \(row.status).")
            }
            let token = Secret.generate()
            let expiresAt = Lifecycle.expiry(from: now, ttlDays: context.settings.invitationTTLDays)
            // Earlier emails of this invitation that have not gone out yet never will: their link is dead.
            try await Outbox(db).supersede(membershipID: id)
            let invitation: MembershipModel
            if let newEmail, newEmail.value != row.email {
                if row.status == MembershipStatus.pending.rawValue {
                    guard let revoked = try await store.transition(id: id, from: [.pending], source: .invitation, to: .revoked, now: now) else {
                        throw RosterError(.conflict, "The invitation changed meanwhile; try again.")
                    }
                    try await AuditLog(db).record(.revoked, actor: context.actor, membership: revoked, before: row.auditState, after: revoked.auditState, requestID: requestID, at: now)
                } else {
                    try await Self.requireSeat(store, context: context)  // an expired row holds no seat
                }
                try await Self.requireInvitationQuota(db, context: context, limits: limits, now: now)
                invitation = MembershipModel(scope: context.scope, email: newEmail.value, name: row.name, roleKey: role.key, status: .pending,
                                             source: .invitation, externalID: row.externalID, attributes: row.attributes, now: now)
                invitation.invitedBy = context.actor.id
                invitation.tokenHash = Secret.hash(token)
                invitation.expiresAt = expiresAt
                invitation.deliveryStatus = "queued"
                try await invitation.create(on: db)
                try await AuditLog(db).record(.invited, actor: context.actor, membership: invitation, before: nil, after: invitation.auditState, requestID: requestID, at: now)
            } else {
                if row.status == MembershipStatus.expired.rawValue { try await Self.requireSeat(store, context: context) }
                try await Self.requireInvitationQuota(db, context: context, limits: limits, now: now)
                guard let resent = try await store.transition(
                    id: id, from: [.pending, .expired], source: .invitation, to: .pending, now: now,
                    set: ["token_hash": Secret.hash(token), "expires_at": expiresAt, "delivery_status": "queued", "ended_at": Date?.none])
                else { throw RosterError(.conflict, "The invitation changed meanwhile; try again.") }
                try await AuditLog(db).record(.resent, actor: context.actor, membership: resent, before: row.auditState, after: resent.auditState, requestID: requestID, at: now)
                invitation = resent
            }
            try await Self.queueInvitation(db, context: context, to: invitation.email, role: role, token: token, expiresAt: expiresAt,
                                           membershipID: invitation.id, now: now)
            return invitation
        }
    }

    func update(id: UUID, _ body: UpdateMemberRequest) async throws -> MembershipModel {
        let newRole = try body.role.map { key throws(RosterError) in try self.context.ladder.require(key) }
        let externalID: String?? = try body.externalID.map { try MemberFields.externalID($0) }
        let givenAttributes = body.attributes
        let unlocked = self.context, requestID = req.id, now = self.now
        return try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let context = try await unlocked.locked(on: db)
            guard context.authority.canSee, let row = try await store.row(id: id, scopeID: context.scope.scopeID) else { throw RosterError.notFound }
            let facts = row.facts
            let current = try context.ladder.require(row.roleKey)
            switch (facts.status, facts.source) {
            case (.active, _):
                let actorIsTarget = facts.accountID != nil && facts.accountID == context.account?.id
                if let newRole {
                    try Lifecycle.changeRole(authority: context.authority, current: current, new: newRole, actorIsTarget: actorIsTarget)
                } else {
                    try context.authority.require(.membersSetRole)
                    try context.authority.requireMayActOn(current)
                }
                if context.scope.ladder == .org, current.isOwner, let newRole, !newRole.isOwner {
                    let counts = try await store.activeCounts(orgID: context.scope.orgID)
                    try Lifecycle.checkLastOwner(activeOwnersAfter: counts.owners - 1, activeMembersAfter: counts.members)
                }
            case (.pending, .invitation):
                try Lifecycle.revoke(authority: context.authority, role: current)
                if let newRole { try context.authority.requireMayGrant(newRole) }
            default:
                throw RosterError(.conflict, "Only active members and pending invitations can be changed; this row is \(facts.status.rawValue) (\(facts.source.rawValue)).")
            }
            let before = row.auditState
            var changes: [String: any Encodable & Sendable] = [:]
            if let newRole { changes["role_key"] = newRole.key }
            if let externalID { changes["external_id"] = externalID }
            if let givenAttributes {
                let current = MembershipRow(row).attributeValues
                changes["attributes"] = MemberFields.json(try AttributeDefinition.resolve(givenAttributes, current: current, definitions: context.attributeDefinitions))
            }
            // Conditional on the status decided on: an invitee's concurrent accept or decline wins cleanly.
            guard let updated = try await store.transition(id: id, from: [facts.status], source: facts.source, to: facts.status, now: now, set: changes) else {
                throw RosterError(.conflict, "The membership changed meanwhile; try again.")
            }
            let event: MembershipEvent = newRole != nil && newRole?.key != current.key ? .roleChanged : .updated
            try await AuditLog(db).record(event, actor: context.actor, membership: updated, before: before, after: updated.auditState, requestID: requestID, at: now)
            return updated
        }
    }

    /// Removes an active member, or revokes a pending invitation.
    func remove(id: UUID) async throws {
        let unlocked = self.context, requestID = req.id, now = self.now
        try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let context = try await unlocked.locked(on: db)
            guard context.authority.canSee, let row = try await store.row(id: id, scopeID: context.scope.scopeID) else { throw RosterError.notFound }
            let facts = row.facts
            let role = try context.ladder.require(row.roleKey)
            let event: MembershipEvent
            let target: MembershipStatus
            switch (facts.status, facts.source) {
            case (.active, _):
                try Lifecycle.remove(authority: context.authority, role: role)
                if context.scope.ladder == .org {
                    let counts = try await store.activeCounts(orgID: context.scope.orgID)
                    try Lifecycle.checkLastOwner(activeOwnersAfter: counts.owners - (role.isOwner ? 1 : 0), activeMembersAfter: counts.members - 1)
                }
                (event, target) = (.removed, .removed)
            case (.pending, .invitation):
                try Lifecycle.revoke(authority: context.authority, role: role)
                (event, target) = (.revoked, .revoked)
            case (.pending, .joinRequest):
                throw RosterError(.conflict, "This is a join request: reject it under join-requests.")
            default:
                throw RosterError(.conflict, "This membership has already ended (\(facts.status.rawValue)).")
            }
            guard let ended = try await store.transition(id: id, from: [facts.status], source: facts.source, to: target, now: now) else {
                throw RosterError(.conflict, "The membership changed meanwhile; try again.")
            }
            try await AuditLog(db).record(event, actor: context.actor, membership: ended, before: row.auditState, after: ended.auditState, requestID: requestID, at: now)
            if target == .revoked { try await Outbox(db).supersede(membershipID: id) }
        }
    }

    /// The caller leaves the scope.
    func leave() async throws {
        guard let account = context.account, let accountID = account.id else {
            throw RosterError(.forbidden, "Only a person can leave; API keys are not members.")
        }
        let unlocked = self.context, requestID = req.id, now = self.now
        try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let context = try await unlocked.locked(on: db)
            guard let row = try await MembershipModel.query(on: db)
                .filter(\.$scopeID == context.scope.scopeID).filter(\.$accountID == accountID)
                .filter(\.$status == MembershipStatus.active.rawValue).first(), let id = row.id
            else { throw RosterError.notFound }
            var deleteOrganization = false
            if context.scope.ladder == .org {
                let counts = try await store.activeCounts(orgID: context.scope.orgID)
                let isOwner = row.roleKey == DefaultRoles.ownerKey
                try Lifecycle.checkLastOwner(activeOwnersAfter: counts.owners - (isOwner ? 1 : 0), activeMembersAfter: counts.members - 1)
                deleteOrganization = counts.members == 1
            }
            guard let left = try await store.transition(id: id, from: [.active], source: nil, to: .left, now: now) else {
                throw RosterError(.conflict, "Your membership changed meanwhile; try again.")
            }
            try await AuditLog(db).record(.left, actor: context.actor, membership: left, before: row.auditState, after: left.auditState, requestID: requestID, at: now)
            if deleteOrganization {
                try await OrganizationLifecycle.softDelete(orgID: context.scope.orgID, actor: context.actor, requestID: requestID, now: now, on: db)
            }
        }
    }

    // MARK: Join requests

    func requestToJoin(_ body: JoinRequestBody) async throws -> MembershipModel {
        guard let account = context.account, let accountID = account.id else {
            throw RosterError(.forbidden, "Only a signed-in person can ask to join; API keys cannot request on someone's behalf.")
        }
        let message = try MemberFields.message(body.message)
        let unlocked = self.context, requestID = req.id, now = self.now
        let limits = req.application.roster.limits
        return try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let context = try await unlocked.locked(on: db)
            try await store.expireInvitations(scopeID: context.scope.scopeID, now: now)
            let existing = try await store.liveRow(scopeID: context.scope.scopeID, email: account.email, accountID: accountID)
            // A space takes requests from its organization's active members only; to others it does not exist.
            if context.scope.spaceID != nil && !unlocked.isOrgMember { throw RosterError.notFound }
            try Lifecycle.requestToJoin(joinPolicyIsRequest: context.settings.joinPolicy == .request,
                                        emailVerified: account.emailVerifiedAt != nil, existing: existing?.facts)
            try await AccountStore(db).lockAccount(accountID)
            let pendingElsewhere = try await MembershipModel.query(on: db)
                .filter(\.$accountID == accountID)
                .filter(\.$status == MembershipStatus.pending.rawValue)
                .filter(\.$source == MembershipSource.joinRequest.rawValue)
                .count()
            if pendingElsewhere >= limits.pendingJoinRequestsPerAccount {
                throw RosterError(.joinRequestPending, "You already have \(pendingElsewhere) pending join request(s); withdraw one or wait for a decision.")
            }
            try await Self.requireSeat(store, context: context)
            let role = try context.ladder.roleOrDefault(nil)
            let row = MembershipModel(scope: context.scope, email: account.email, name: account.name, roleKey: role.key,
                                      status: .pending, source: .joinRequest, accountID: accountID, now: now)
            row.message = message
            try await row.create(on: db)
            try await AuditLog(db).record(.requested, actor: context.actor, membership: row, before: nil, after: row.auditState, requestID: requestID, at: now)
            let reviewerRoles = context.ladder.roles.filter { $0.permissions.contains(.requestsReview) }.map(\.key)
            let orgLadder = try await store.ladder(orgID: context.scope.orgID, .org)
            let orgReviewerRoles = orgLadder.roles.filter { $0.isOwner || $0.key == DefaultRoles.adminKey }.map(\.key)
            let reviewers = try await MembershipModel.query(on: db)
                .filter(\.$status == MembershipStatus.active.rawValue)
                .group(.or) { group in
                    group.group(.and) { $0.filter(\.$scopeID == context.scope.scopeID).filter(\.$roleKey ~~ reviewerRoles) }
                    if context.scope.spaceID != nil {
                        group.group(.and) { $0.filter(\.$scopeID == context.scope.orgID).filter(\.$roleKey ~~ orgReviewerRoles) }
                    }
                }
                .limit(limits.reviewerEmails)
                .all()
            let reviewPath = context.scope.spaceID.map { "/spaces/\($0.uuidString.lowercased())/join-requests" } ?? "/orgs/\(context.org.slug)/join-requests"
            for reviewer in Set(reviewers.map(\.email)).sorted() {
                try await Outbox(db).enqueue(
                    EmailTemplates.joinRequest(to: reviewer, requesterName: account.name, requesterEmail: account.email, organization: context.org.name,
                                               space: context.spaceName, message: message, reviewPath: reviewPath),
                    orgID: context.scope.orgID, membershipID: row.id, now: now)
            }
            return row
        }
    }

    /// Approves (with an optional role) or rejects a pending join request.
    func review(id: UUID, approve: Bool, roleKey: String?) async throws -> MembershipModel {
        let unlocked = self.context, requestID = req.id, now = self.now
        return try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            let context = try await unlocked.locked(on: db)
            try context.authority.require(.requestsReview)
            guard let row = try await store.row(id: id, scopeID: context.scope.scopeID),
                  row.source == MembershipSource.joinRequest.rawValue else { throw RosterError.notFound }
            let role = try context.ladder.require(roleKey ?? row.roleKey)
            if approve { try context.authority.requireMayGrant(role) }
            guard let decided = try await store.transition(
                id: id, from: [.pending], source: .joinRequest, to: approve ? .active : .rejected, now: now,
                set: approve ? ["role_key": role.key] : [:])
            else { throw RosterError(.conflict, "This join request is no longer pending (\(row.status)).") }
            try await AuditLog(db).record(approve ? .approved : .rejected, actor: context.actor, membership: decided,
                                          before: row.auditState, after: decided.auditState, requestID: requestID, at: now)
            try await Outbox(db).enqueue(
                EmailTemplates.joinRequestDecided(to: decided.email, approved: approve, organization: context.org.name, space: context.spaceName,
                                                  roleName: approve ? role.name : nil),
                orgID: context.scope.orgID, membershipID: id, now: now)
            return decided
        }
    }

    /// The requester withdraws their own pending join request.
    func withdraw(id: UUID) async throws {
        guard let accountID = context.account?.id else { throw RosterError.notFound }
        let context = self.context, requestID = req.id, now = self.now
        try await req.db.writeTransaction { db in
            let store = MembershipStore(db)
            guard let before = try await store.row(id: id, scopeID: context.scope.scopeID),
                  let withdrawn = try await store.transition(
                      id: id, scopeID: context.scope.scopeID, from: [.pending], source: .joinRequest, to: .withdrawn, now: now,
                      extra: { $0.where("account_id", .equal, accountID) })
            else { throw RosterError.notFound }
            try await AuditLog(db).record(.withdrawn, actor: context.actor, membership: withdrawn, before: before.auditState, after: withdrawn.auditState, requestID: requestID, at: now)
        }
    }
}

/// Validation of the per-member fields shared by invitations and updates.
enum MemberFields {
    static func name(_ raw: String?) throws(RosterError) -> String? {
        let name = try text(raw, field: "name", maximum: AccountRules.maximumNameLength)
        if let name, AccountRules.hasControlCharacters(name) {
            throw RosterError.validation([FieldIssue(field: "name", message: "must not contain line breaks or control characters")])
        }
        return name
    }

    /// A member's address (an invitation's, or a resend's corrected one); `field` names the input in the issue.
    static func email(_ raw: String, field: String = "email") throws(RosterError) -> EmailAddress {
        guard let email = EmailAddress(raw) else {
            throw RosterError.validation([FieldIssue(field: field, message: "must be an email address like name@example.com")])
        }
        return email
    }

    static func externalID(_ raw: String?) throws(RosterError) -> String? {
        try text(raw, field: "external_id", maximum: ImportPlanner.maximumExternalIDLength)
    }

    static func message(_ raw: String?) throws(RosterError) -> String? {
        try text(raw, field: "message", maximum: 2000)
    }

    /// Attribute values as stored.
    static func json(_ values: [String: String]) -> String { MembershipRow.encodeAttributes(values) }

    /// Trimmed text, nil when empty, refused when longer than `maximum` characters or holding a NUL (which
    /// PostgreSQL refuses in text).
    private static func text(_ raw: String?, field: String, maximum: Int) throws(RosterError) -> String? {
        guard let raw else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count > maximum {
            throw RosterError.validation([FieldIssue(field: field, message: "must be at most \(maximum) characters")])
        }
        if trimmed.utf8.contains(0) {
            throw RosterError.validation([FieldIssue(field: field, message: "must not contain NUL characters")])
        }
        return trimmed.isEmpty ? nil : trimmed
    }
}

import Fluent
import Foundation
import RosterCore
import RosterStore

/// An organization's email domains (issue 16, point 2), for every door (API, web pages): adding one, verifying it
/// by its DNS TXT record, choosing its policy, removing it. Holders of `domains.manage` only (owners); every change
/// is taken under the organization's lock and audited.
struct OrganizationDomains: Sendable {
    let context: ScopeContext
    let db: any Database
    let resolver: any TXTResolver
    let limits: RosterLimits
    let requestID: String?

    init(context: ScopeContext, db: any Database, resolver: any TXTResolver, limits: RosterLimits, requestID: String?) throws(RosterError) {
        guard context.authority.canSee else { throw RosterError.notFound }
        try context.authority.require(.domainsManage)
        (self.context, self.db, self.resolver, self.limits, self.requestID) = (context, db, resolver, limits, requestID)
    }

    func all() async throws -> [OrganizationDomainModel] {
        try await DomainStore(db).domains(orgID: context.scope.orgID)
    }

    /// Adds `rawDomain` (unverified) with `policy` and, for `auto`, the members' role.
    func add(domain rawDomain: String, policy rawPolicy: String?, role: String?) async throws -> OrganizationDomainModel {
        guard let domain = DomainName.canonical(rawDomain) else {
            throw RosterError.validation([FieldIssue(field: "domain", message: "must be a domain such as acme.com (an internationalized domain in its ASCII form, xn--…)")])
        }
        if PublicEmailDomains.contains(domain) {
            throw RosterError(.publicEmailDomain, "Anyone can get an address at \(domain): an organization cannot claim it.")
        }
        let (policy, roleKey) = try settings(policy: rawPolicy ?? DomainPolicy.suggest.rawValue, role: role, ladder: context.ladder,
                                             authority: context.authority)
        let model = OrganizationDomainModel()
        model.id = UUID()
        model.orgID = context.scope.orgID
        model.domain = domain
        model.token = Secret.generate()
        model.policy = policy.rawValue
        model.roleKey = roleKey
        model.createdBy = context.account?.id
        model.createdAt = Date()
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            let locked = try await context.locked(on: db)
            try locked.authority.require(.domainsManage)
            let count = try await OrganizationDomainModel.query(on: db).filter(\.$orgID == context.scope.orgID).count()
            guard count < DomainVerification.maximumDomainsPerOrganization else {
                throw RosterError(.conflict, "An organization holds at most \(DomainVerification.maximumDomainsPerOrganization) domains; remove one first.")
            }
            try await model.create(on: db)
            try await AuditLog(db).record(action: "domain.added", actor: context.actor, orgID: context.scope.orgID, before: nil,
                                          after: Self.state(of: model), requestID: requestID, at: Date())
        }
        return model
    }

    /// Looks the domain's TXT record up and, when it holds this domain's token, marks it verified (409
    /// `domain_taken` when another organization verified it first; 422 `domain_not_verified` saying what DNS
    /// answered otherwise). Under `auto`, existing verified accounts of the domain join.
    func verify(_ id: UUID) async throws -> OrganizationDomainModel {
        let current = try await find(id, on: db)
        let outcome = DomainVerification.outcome(of: await resolver.txtRecords(of: current.domain), token: current.token)
        let context = self.context, requestID = self.requestID, now = Date()
        let model = try await db.writeTransaction { db -> OrganizationDomainModel in
            let locked = try await context.locked(on: db)
            try locked.authority.require(.domainsManage)
            let model = try await find(id, on: db)
            model.checkedAt = now
            switch outcome {
            case .verified:
                model.checkResult = nil
                if model.domainPolicy == .auto { model.backfillAfter = OrganizationDomainModel.backfillStart() }
                guard model.verifiedAt == nil else { try await model.save(on: db); return model }
                model.verifiedAt = now
                try await model.save(on: db)
                try await AuditLog(db).record(action: "domain.verified", actor: context.actor, orgID: context.scope.orgID, before: nil,
                                              after: Self.state(of: model), requestID: requestID, at: now)
            case .missing(let reason), .undetermined(let reason):
                model.checkResult = reason
                try await model.save(on: db)
            }
            return model
        }
        switch outcome {
        case .verified:
            try await DomainJoins(db: db, limits: limits).backfill(try model.requireID(), batches: DomainJoins.batchesPerRequest)
            return model
        case .missing(let reason), .undetermined(let reason):
            throw RosterError(.domainNotVerified, "\(reason) Publish a TXT record on \(model.domain) with the text \(DomainVerification.record(token: model.token)), then verify again (DNS changes can take a while to show).")
        }
    }

    /// Changes the policy and the `auto` role. Switching a verified domain to `auto` makes its existing verified
    /// accounts members, in batches.
    func update(_ id: UUID, policy rawPolicy: String?, role: String?) async throws -> OrganizationDomainModel {
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            let locked = try await context.locked(on: db)
            try locked.authority.require(.domainsManage)
            let model = try await find(id, on: db)
            let before = Self.state(of: model)
            // A role not given stays as it was: a policy switched away from `auto` keeps it (unchecked, as it is
            // unused) for when it is switched back, where it is checked again.
            let policyName = rawPolicy ?? model.policy
            let (policy, roleKey) = try settings(policy: policyName, role: role ?? (policyName == DomainPolicy.auto.rawValue ? model.roleKey : nil),
                                                 ladder: locked.ladder, authority: locked.authority)
            model.policy = policy.rawValue
            model.roleKey = roleKey ?? model.roleKey
            // Saving `auto` again joins whoever could not join before (a refusal, a failure).
            model.backfillAfter = model.verifiedAt != nil && policy == .auto ? OrganizationDomainModel.backfillStart() : nil
            try await model.save(on: db)
            try await AuditLog(db).record(action: "domain.updated", actor: context.actor, orgID: context.scope.orgID, before: before,
                                          after: Self.state(of: model), requestID: requestID, at: Date())
        }
        try await DomainJoins(db: db, limits: limits).backfill(id, batches: DomainJoins.batchesPerRequest)
        return try await find(id, on: db)
    }

    /// Removes the domain (members who joined through it stay).
    func remove(_ id: UUID) async throws {
        let context = self.context, requestID = self.requestID
        try await db.writeTransaction { db in
            let locked = try await context.locked(on: db)
            try locked.authority.require(.domainsManage)
            let model = try await find(id, on: db)
            try await model.delete(on: db)
            try await AuditLog(db).record(action: "domain.removed", actor: context.actor, orgID: context.scope.orgID, before: Self.state(of: model),
                                          after: nil, requestID: requestID, at: Date())
        }
    }

    private func find(_ id: UUID, on db: any Database) async throws -> OrganizationDomainModel {
        guard let model = try await OrganizationDomainModel.query(on: db).filter(\.$id == id).filter(\.$orgID == context.scope.orgID).first() else {
            throw RosterError.notFound
        }
        return model
    }

    /// A policy and, for `auto`, a role of the organization's ladder that is not owner (nil: the ladder's default)
    /// and that `authority` may grant: a domain joins people in the role of whoever set it.
    private func settings(policy raw: String, role: String?, ladder: RoleLadder, authority: Authority) throws(RosterError) -> (DomainPolicy, String?) {
        guard let policy = DomainPolicy(rawValue: raw) else {
            throw RosterError.validation([FieldIssue(field: "policy", message: "must be one of \(DomainPolicy.allCases.map(\.rawValue).joined(separator: ", "))")])
        }
        // A role given is checked whatever the policy (it is the one `auto` gives); `auto` without one gives the
        // ladder's default.
        guard role != nil || policy == .auto else { return (policy, nil) }
        let resolved = try ladder.roleOrDefault(role)
        guard !resolved.isOwner else {
            throw RosterError.validation([FieldIssue(field: "role", message: "a verified domain cannot make owners; choose another role")])
        }
        try authority.requireMayGrant(resolved)
        return (policy, resolved.key)
    }

    static func state(of model: OrganizationDomainModel) -> [String: String] {
        var state = ["domain": model.domain, "policy": model.policy, "verified": model.verifiedAt == nil ? "false" : "true"]
        if let roleKey = model.roleKey { state["role"] = roleKey }
        return state
    }
}

/// Joining by verified domain (`auto`): one lifecycle command (`.joinByDomain`) per person, for the two doors that
/// need it — an account's email becoming verified, and a domain switched to `auto` (or verified under it).
struct DomainJoins: Sendable {
    let db: any Database
    let limits: RosterLimits

    /// Accounts read per batch when a domain turns `auto`; each join is its own short transaction, so members'
    /// requests never wait long behind the organization's lock.
    var batchSize = 200
    /// Batches a request joins before it answers (each join is a transaction of its own: one batch takes 1.1–1.4 s
    /// on PostgreSQL, five kept a request waiting 7–15 s; `bench/domain-backfill.sh`); the worker goes on with the
    /// rest (`resumeBackfills`).
    static let batchesPerRequest = 1

    /// Goes on with the pending backfill of `domainID` (`backfillAfter`) for at most `batches` batches: every
    /// verified account of the domain that may join becomes a member (refusals — already a member, ended before,
    /// seats taken — are skipped). Where it got is saved after each batch, so a restart loses nothing. Returns how
    /// many joined.
    @discardableResult
    func backfill(_ domainID: UUID, batches: Int) async throws -> Int {
        var joined = 0
        for _ in 0..<batches {
            guard let domain = try await OrganizationDomainModel.find(domainID, on: db), let cursor = domain.backfillAfter else { return joined }
            var next: UUID?
            // A domain no longer verified and `auto`, or of a deleted organization, joins no one: its backfill ends.
            if domain.verifiedAt != nil, domain.domainPolicy == .auto, let org = try await Directory(db).organization(ref: domain.orgID.uuidString) {
                let accounts = try await DomainStore(db).verifiedAccounts(inDomain: domain.domain, after: cursor, limit: batchSize)
                for account in accounts where try await join(account, org: org) { joined += 1 }
                if accounts.count == batchSize { next = accounts.last?.id }
            }
            // Unless the policy was saved again meanwhile (which starts over) or another run got further.
            guard try await DomainStore(db).advanceBackfill(of: domainID, from: cursor, to: next), next != nil else { return joined }
        }
        return joined
    }

    /// The worker's minute sweep: goes on with the backfills requests left (a domain that fails is logged and
    /// tried again next time; the others go on).
    func resumeBackfills(batches: Int = 25) async throws {
        for id in try await DomainStore(db).pendingBackfills(limit: 10) {
            do { try await backfill(id, batches: batches) } catch {
                db.logger.error("joining the accounts of domain \(id.uuidString.lowercased()): \(String(describing: error))")
            }
        }
    }

    /// After `account`'s email was verified: it joins every organization that verified its domain under `auto`.
    func afterVerification(of account: AccountModel) async {
        guard account.emailVerifiedAt != nil else { return }
        do {
            for orgID in try await DomainStore(db).autoJoinOrganizations(email: account.email) {
                guard let org = try await Directory(db).organization(id: orgID) else { continue }
                _ = try await join(account, org: org)
            }
        } catch {
            // The verification itself stands; a failed join is retried the next time the domain's policy is saved.
            db.logger.error("joining by domain after verifying \(account.id?.uuidString ?? ""): \(String(describing: error))")
        }
    }

    /// Runs `.joinByDomain` for `account` on `org`; false when the lifecycle refused it.
    private func join(_ account: AccountModel, org: OrganizationModel) async throws -> Bool {
        let orgID = try org.requireID()
        let ladder = try await MembershipStore(db).ladder(orgID: orgID, .org)
        let context = ScopeContext(org: org, scope: ScopeRef(orgID: orgID), ladder: ladder, authority: .none, actor: .system, account: account,
                                   actorName: "Roster", settings: org.settings, spaceName: nil)
        do {
            _ = try await MembershipUseCases(context: context, db: db, limits: limits, requestID: nil).run(.joinByDomain)
            return true
        } catch is RosterError {
            return false
        }
    }
}

/// The daily re-check of verified domains (the worker's minute sweep, and `roster domains recheck`): a domain whose
/// record DNS says is gone loses its verification (audited as `domain.lost`); one DNS does not answer for stays.
struct DomainRecheck: Sendable {
    let db: any Database
    let resolver: any TXTResolver

    /// Checks verified domains last checked before `cutoff` (at most `limit`); returns how many were lost. The DNS
    /// questions go out together, so a resolver that does not answer costs one timeout, not one per domain (the
    /// worker's email loop waits for this).
    @discardableResult
    func run(checkedBefore cutoff: Date, limit: Int = 100) async throws -> Int {
        let due = try await DomainStore(db).dueForRecheck(checkedBefore: cutoff, limit: limit)
        let resolver = self.resolver
        let answers = await withTaskGroup(of: (Int, TXTAnswer).self) { group in
            for (index, name) in due.map(\.domain).enumerated() { group.addTask { (index, await resolver.txtRecords(of: name)) } }
            var answers = [TXTAnswer?](repeating: nil, count: due.count)
            for await (index, answer) in group { answers[index] = answer }
            return answers
        }
        var lost = 0
        for (domain, answer) in zip(due, answers) {
            guard let answer else { continue }
            let outcome = DomainVerification.outcome(of: answer, token: domain.token)
            let now = Date()
            let wasLost = try await db.writeTransaction { db -> Bool in
                guard (try? await MembershipStore(db).lockOrganization(domain.orgID)) != nil else { return false }
                guard let model = try await OrganizationDomainModel.find(domain.id, on: db), model.verifiedAt != nil else { return false }
                model.checkedAt = now
                switch outcome {
                case .verified:
                    model.checkResult = nil
                    try await model.save(on: db)
                    return false
                case .undetermined(let reason):
                    model.checkResult = reason
                    try await model.save(on: db)
                    return false
                case .missing(let reason):
                    let before = OrganizationDomains.state(of: model)
                    model.checkResult = reason
                    model.verifiedAt = nil
                    try await model.save(on: db)
                    try await AuditLog(db).record(action: "domain.lost", actor: .system, orgID: model.orgID, before: before,
                                                  after: OrganizationDomains.state(of: model).merging(["reason": reason]) { $1 },
                                                  requestID: nil, at: now)
                    return true
                }
            }
            if wasLost { lost += 1 }
        }
        return lost
    }
}

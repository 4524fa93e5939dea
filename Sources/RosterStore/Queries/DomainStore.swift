import Fluent
import FluentSQL
import Foundation
import RosterCore
import SQLKit

/// Reads and writes of organizations' email domains (issue 16, point 2).
public struct DomainStore: Sendable {
    let db: any Database

    public init(_ db: any Database) { self.db = db }

    /// Ended rows that keep a person out of joining by domain: someone decided they are not (or no longer) a member.
    public static let statusesThatKeepOut: [MembershipStatus] = [.left, .removed, .declined, .rejected]

    /// The organization's verified domain holding `person`'s verified email, on an organization roster.
    public func verifiedDomain(of person: ActingPerson, orgScope scope: ScopeRef) async throws -> VerifiedDomainFacts? {
        guard scope.spaceID == nil, person.emailVerified, let domain = DomainName.of(email: person.email) else { return nil }
        return try await OrganizationDomainModel.query(on: db)
            .filter(\.$orgID == scope.orgID).filter(\.$domain == domain).filter(\.$verifiedAt != nil)
            .first()?.facts
    }

    /// The domains of an organization, in the order they were added.
    public func domains(orgID: UUID) async throws -> [OrganizationDomainModel] {
        try await OrganizationDomainModel.query(on: db).filter(\.$orgID == orgID).sort(\.$createdAt).sort(\.$id)
            .limit(DomainVerification.maximumDomainsPerOrganization).all()
    }

    /// The verified domain holding `domain` (any organization), if one does.
    public func verified(domain: String) async throws -> OrganizationDomainModel? {
        try await OrganizationDomainModel.query(on: db).filter(\.$domain == domain).filter(\.$verifiedAt != nil).first()
    }

    /// Verified domains last checked before `cutoff` (the daily re-check), oldest first.
    public func dueForRecheck(checkedBefore cutoff: Date, limit: Int) async throws -> [OrganizationDomainModel] {
        try await OrganizationDomainModel.query(on: db).filter(\.$verifiedAt != nil)
            .group(.or) { $0.filter(\.$checkedAt == nil).filter(\.$checkedAt < cutoff) }
            .sort(\.$checkedAt).limit(limit).all()
    }

    /// Verified accounts whose email is in `domain`, after `cursor` in id order (a backfill's batch): addresses
    /// written with the domain's ASCII form or, for an internationalized one, its Unicode form.
    public func verifiedAccounts(inDomain domain: String, after cursor: UUID?, limit: Int) async throws -> [AccountModel] {
        let spellings = Set([domain, DomainName.unicode(domain)])
        var query = AccountModel.query(on: db).filter(\.$emailVerifiedAt != nil)
            .group(.or) { group in for spelling in spellings { group.filter(\.$email, .custom("LIKE"), "%@" + spelling) } }
        if let cursor { query = query.filter(\.$id > cursor) }
        return try await query.sort(\.$id).limit(limit).all()
    }

    /// Organizations that verified `email`'s domain with `policies`, where the account has no live org row: what the
    /// home page suggests.
    public func suggestions(accountID: UUID, email: String, policies: [DomainPolicy]) async throws -> [(OrganizationDomainModel, OrganizationModel)] {
        guard let domain = DomainName.of(email: email) else { return [] }
        let rows = try await OrganizationDomainModel.query(on: db).filter(\.$domain == domain).filter(\.$verifiedAt != nil)
            .filter(\.$policy ~~ policies.map(\.rawValue)).all()
        var result: [(OrganizationDomainModel, OrganizationModel)] = []
        for row in rows {
            guard let org = try await Directory(db).organization(id: row.orgID),
                  try await MembershipStore(db).liveRow(scopeID: row.orgID, email: email, accountID: accountID) == nil else { continue }
            result.append((row, org))
        }
        return result
    }

    /// Domains whose existing accounts are still joining (a request answered after its first batches).
    public func pendingBackfills(limit: Int) async throws -> [UUID] {
        try await OrganizationDomainModel.query(on: db).filter(\.$backfillAfter != nil).sort(\.$id).limit(limit).all().compactMap(\.id)
    }

    /// Moves the backfill cursor of `domainID` from `cursor` to `next` (nil: done). False when the cursor is no
    /// longer `cursor`: the policy was saved again (a new start) or another run moved it first.
    public func advanceBackfill(of domainID: UUID, from cursor: UUID, to next: UUID?) async throws -> Bool {
        try await !db.sql.update(OrganizationDomainModel.schema).set("backfill_after", to: next)
            .where("id", .equal, domainID).where("backfill_after", .equal, cursor).returning("id").all().isEmpty
    }

    /// Verified `auto` domains holding `email`'s domain: the organizations a newly verified account joins.
    public func autoJoinOrganizations(email: String) async throws -> [UUID] {
        guard let domain = DomainName.of(email: email) else { return [] }
        return try await OrganizationDomainModel.query(on: db).filter(\.$domain == domain).filter(\.$verifiedAt != nil)
            .filter(\.$policy == DomainPolicy.auto.rawValue).all().map(\.orgID)
    }
}

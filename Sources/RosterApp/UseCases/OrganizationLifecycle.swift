import Vapor
import Fluent
import RosterCore
import RosterStore

/// Creating and deleting organizations.
enum OrganizationLifecycle {
    /// Creates an organization with the default role ladders and its creator as the active owner, in one transaction.
    static func create(name: String, slug requested: String?, description: String, settings: ScopeSettings,
                       creator: AccountModel, requestID: String, on database: any Database) async throws -> OrganizationModel {
        let creatorID = try creator.requireID()
        guard creator.emailVerifiedAt != nil else {
            throw RosterError(.forbidden, "Verify your email address before creating an organization.")
        }
        let now = Date()
        return try await database.writeTransaction { db in
            // A generated slug takes the first free suffix; a requested one is taken or refused.
            var slug = requested ?? ""
            if requested == nil { slug = try await Directory(db).freeSlug(OrganizationRules.slug(from: name)) }
            let org = OrganizationModel()
            org.name = name
            org.slug = slug
            org.description = description
            org.settings = settings
            try await org.create(on: db)
            let orgID = try org.requireID()
            for ladder in Ladder.allCases {
                for role in DefaultRoles.roles(for: ladder) {
                    try await RoleModel(orgID: orgID, ladder: ladder, role: role).create(on: db)
                }
            }
            let owner = MembershipModel(scope: ScopeRef(orgID: orgID), email: creator.email, name: creator.name, roleKey: DefaultRoles.ownerKey,
                                        status: .active, source: .creator, accountID: creatorID, now: now)
            try await owner.create(on: db)
            try await AuditLog(db).record(action: "organization.created", actor: .account(creatorID), orgID: orgID,
                                          before: nil, after: ["name": name, "slug": slug], requestID: requestID, at: now)
            try await AuditLog(db).record([.membership(.created, actor: .account(creatorID), before: nil, after: owner.facts)], requestID: requestID, at: now)
            return org
        }
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// Changes to an organization itself and its role ladders (the API and the settings pages), each under the
/// organization's lock with the actor's authority re-read, and audited.
struct OrganizationUseCases: Sendable {
    let context: ScopeContext
    let db: any Database
    let requestID: String?

    init(req: Request, context: ScopeContext) {
        self.context = context
        self.db = req.db
        self.requestID = req.id
    }

    /// The organization's space ladder.
    func spaceLadder() async throws -> RoleLadder {
        try await MembershipStore(db).ladder(orgID: context.scope.orgID, .space)
    }

    /// Renames, re-slugs or changes the settings of the organization (the API and the settings page). The change is
    /// applied to the organization as read under its lock, so it never writes back values a concurrent change replaced.
    func update(_ body: UpdateOrganizationRequest) async throws -> OrganizationModel {
        let context = self.context, requestID = self.requestID
        try context.authority.require(.scopeManage)
        return try await db.writeTransaction { db in
            let locked = try await context.locked(on: db)
            try locked.authority.require(.scopeManage)
            let org = locked.org
            let before = ["name": org.name, "slug": org.slug, "settings": String(describing: org.settings)]
            try Self.apply(body, to: org, byPlatform: context.actsAsPlatform)
            try await org.save(on: db)
            try await AuditLog(db).record(action: "organization.updated", actor: context.actor, orgID: context.scope.orgID, before: before,
                                          after: ["name": org.name, "slug": org.slug, "settings": String(describing: org.settings)],
                                          requestID: requestID, at: Date())
            return org
        }
    }

    /// Validates `body` and applies it to `org`; every problem at once.
    private static func apply(_ body: UpdateOrganizationRequest, to org: OrganizationModel, byPlatform: Bool) throws {
        var issues: [FieldIssue] = []
        if let raw = body.name {
            switch OrganizationRules.name(raw) {
            case .success(let name): org.name = name
            case .failure(let issue): issues.append(issue)
            }
        }
        if let raw = body.slug {
            let slug = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if OrganizationRules.isValidSlug(slug) { org.slug = slug } else {
                issues.append(FieldIssue(field: "slug", message: "must be 2–48 characters of a–z, 0–9 and single inner hyphens"))
            }
        }
        if let description = body.description {
            if description.count > 2000 { issues.append(FieldIssue(field: "description", message: "must be at most 2000 characters")) }
            org.description = description.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let patch = body.settings {
            let settings = patch.applied(to: org.settings)
            issues += settings.issues()
            try AddPolicy.requireMayChange(from: org.settings.addPolicy, to: settings.addPolicy, byPlatform: byPlatform)
            org.settings = settings
        }
        guard issues.isEmpty else { throw RosterError.validation(issues) }
    }

    /// Creates or replaces a role of `ladder`; true when it is new.
    func saveRole(_ role: RoleDefinition, ladder ladderName: Ladder) async throws -> Bool {
        let context = self.context, requestID = self.requestID
        let orgID = context.scope.orgID
        return try await db.writeTransaction { db -> Bool in
            let locked = try await context.locked(on: db)
            let authority = locked.authority, ladder = try await locked.ladder(ladderName, on: db)
            try RoleRules.validate(role, in: ladder)
            try RoleRules.requireMayDefine(role, replacing: ladder.role(role.key), ladder: ladderName, authority: authority)
            let previous = try await Directory(db).saveRole(role, ladder: ladderName, orgID: orgID)
            let permissions = role.permissions.sorted().map(\.rawValue).joined(separator: ",")
            try await AuditLog(db).record(
                action: "role.saved", actor: context.actor, orgID: orgID,
                before: previous.map { ["name": $0.name, "rank": String($0.rank), "permissions": $0.permissions.sorted().map(\.rawValue).joined(separator: ",")] },
                after: ["ladder": ladderName.rawValue, "key": role.key, "name": role.name, "rank": String(role.rank), "permissions": permissions],
                requestID: requestID, at: Date())
            return previous == nil
        }
    }

    /// Deletes a role no live membership holds and no invite link or `auto` domain gives.
    func deleteRole(_ key: String, ladder ladderName: Ladder) async throws {
        let context = self.context, requestID = self.requestID
        let orgID = context.scope.orgID
        try await db.writeTransaction { db in
            let locked = try await context.locked(on: db)
            let authority = locked.authority, ladder = try await locked.ladder(ladderName, on: db)
            let existing = try ladder.require(key)
            try RoleRules.requireMayDefine(existing, replacing: existing, ladder: ladderName, authority: authority)
            if ladder.roles.count <= 1 { throw RosterError(.conflict, "A ladder keeps at least one role.") }
            let count = try await Directory(db).liveHolders(ofRole: key, ladder: ladderName, orgID: orgID)
            if count > 0 { throw RosterError(.roleInUse, "\(count) live membership(s) hold '\(key)'; give them another role first.") }
            let grants = try await Directory(db).grantsByLinksAndDomains(ofRole: key, ladder: ladderName, orgID: orgID)
            if grants > 0 {
                throw RosterError(.roleInUse, "\(grants) invite link(s) or auto domain(s) give '\(key)'; turn the links off or give the domains another role first.")
            }
            try await Directory(db).deleteRole(key, ladder: ladderName, orgID: orgID)
            try await AuditLog(db).record(action: "role.deleted", actor: context.actor, orgID: orgID, before: ["ladder": ladderName.rawValue, "key": key],
                                          after: nil, requestID: requestID, at: Date())
        }
    }
}

extension OrganizationUseCases {
    /// Sets an organization's own invitation-email budget per hour, or gives it back the server's (`nil`), under its
    /// lock and audited as the command line's doing (`roster orgs limits`). Returns the organization, or nil when
    /// there is none by `ref` (id or slug).
    static func setInvitationsPerHour(_ perHour: Int?, of ref: String, on database: any Database) async throws -> OrganizationModel? {
        guard let found = try await Directory(database).organization(ref: ref), let orgID = found.id else { return nil }
        return try await database.writeTransaction { db in
            try await MembershipStore(db).lockOrganization(orgID)
            guard let org = try await Directory(db).organization(id: orgID) else { return nil }
            let before = org.invitesPerHour
            org.invitesPerHour = perHour
            try await org.save(on: db)
            try await AuditLog(db).record(action: "organization.updated", actor: .commandLine, orgID: orgID,
                                          before: ["invites_per_hour": before.map(String.init) ?? "default"],
                                          after: ["invites_per_hour": perHour.map(String.init) ?? "default"], requestID: nil, at: Date())
            return org
        }
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// Creating and changing spaces (the API and the spaces page), under the organization's lock, audited.
/// Deleting one is a lifecycle command (`MembershipUseCases.deleteSpace`): its rows end with it.
struct SpaceUseCases: Sendable {
    let context: ScopeContext
    let db: any Database
    let requestID: String?

    init(req: Request, context: ScopeContext) {
        self.init(context: context, db: req.db, requestID: req.id)
    }

    init(context: ScopeContext, db: any Database, requestID: String?) {
        self.context = context
        self.db = db
        self.requestID = requestID
    }

    /// Creates a space in the organization (the API and the spaces page).
    func create(_ body: SpaceRequest) async throws -> SpaceModel {
        let context = self.context, requestID = self.requestID
        try context.authority.require(.spacesCreate)
        let space = SpaceModel()
        space.orgID = context.scope.orgID
        try Self.apply(body, to: space, creating: true, byPlatform: context.actsAsPlatform)
        try await db.writeTransaction { db in
            try await context.locked(on: db).authority.require(.spacesCreate)
            // A generated slug takes the first free suffix within the organization.
            if body.slug == nil { space.slug = try await Directory(db).freeSlug(space.slug, inOrganization: space.orgID) }
            try await space.create(on: db)
            try await AuditLog(db).record(action: "space.created", actor: context.actor, orgID: context.scope.orgID, spaceID: space.id,
                                          before: nil, after: ["name": space.name, "slug": space.slug, "kind": space.kind], requestID: requestID, at: Date())
        }
        return space
    }

    /// Renames or reconfigures `space`.
    func update(_ space: SpaceModel, with body: SpaceRequest) async throws {
        let context = self.context, requestID = self.requestID
        let before = ["name": space.name, "slug": space.slug, "attributes": space.attributes]
        try Self.apply(body, to: space, creating: false, byPlatform: context.actsAsPlatform)
        try await db.writeTransaction { db in
            try await context.locked(on: db).authority.require(.scopeManage)
            try await space.save(on: db)
            try await AuditLog(db).record(action: "space.updated", actor: context.actor, orgID: context.scope.orgID, spaceID: space.id, before: before,
                                          after: ["name": space.name, "slug": space.slug, "attributes": space.attributes], requestID: requestID, at: Date())
        }
    }

    /// Validates and applies a request to a space (new or existing); every problem at once.
    static func apply(_ body: SpaceRequest, to space: SpaceModel, creating: Bool, byPlatform: Bool) throws {
        var issues: [FieldIssue] = []
        if let raw = body.name ?? (creating ? "" : nil) {
            switch OrganizationRules.name(raw) {
            case .success(let name): space.name = name
            case .failure(let issue): issues.append(issue)
            }
        }
        if let raw = body.slug {
            let slug = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if OrganizationRules.isValidSlug(slug) { space.slug = slug } else {
                issues.append(FieldIssue(field: "slug", message: "must be 2–48 characters of a–z, 0–9 and single inner hyphens"))
            }
        } else if creating {
            space.slug = OrganizationRules.slug(from: body.name ?? "")
        }
        if let kind = body.kind?.trimmingCharacters(in: .whitespaces) {
            if kind.isEmpty || kind.count > 40 { issues.append(FieldIssue(field: "kind", message: "must be 1–40 characters")) } else { space.kind = kind }
        } else if creating {
            space.kind = "space"
        }
        if creating {
            space.joinPolicy = JoinPolicy.closed.rawValue
            space.addPolicy = AddPolicy.consent.rawValue
            space.attributes = "[]"
        }
        if let settings = body.settings {
            if let join = settings.joinPolicy { space.joinPolicy = join.rawValue }
            if let add = settings.addPolicy {
                try AddPolicy.requireMayChange(from: AddPolicy(rawValue: space.addPolicy) ?? .consent, to: add, byPlatform: byPlatform)
                space.addPolicy = add.rawValue
            }
            if let seats = settings.seatLimit {
                if let seats, seats < 1 || seats > 10_000_000 {
                    issues.append(FieldIssue(field: "settings.seat_limit", message: "must be from 1 to 10000000, or null for no limit"))
                } else { space.seatLimit = seats }
            }
        }
        if let definitions = body.attributes {
            let problems = AttributeDefinition.issues(definitions)
            if problems.isEmpty { space.attributeDefinitions = definitions } else { issues += problems }
        }
        if !issues.isEmpty { throw RosterError.validation(issues) }
    }
}

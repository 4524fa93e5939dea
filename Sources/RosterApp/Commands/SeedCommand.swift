import Vapor
import Fluent
import SQLKit
import RosterCore
import RosterStore

/// `roster seed`: fills the database with synthetic organizations and memberships for benchmarks.
///
/// One large organization (`--large-org` members) and `--orgs` − 1 small ones share the remaining memberships.
/// Every seeded account has the password `seeded-password` and is verified. Writes a platform API key and a
/// file of (account id, organization slug) pairs for the authorize benchmark.
struct SeedCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "orgs", help: "Organizations to create (default 10000).") var orgs: Int?
        @Option(name: "memberships", help: "Active memberships in all (default 1000000).") var memberships: Int?
        @Option(name: "large-org", help: "Members of the one large organization (default 100000).") var largeOrg: Int?
        @Option(name: "pairs", help: "File to write 'account_id org_slug' lines to (default seed-pairs.txt).") var pairs: String?
    }

    var help: String { "Seeds synthetic organizations and memberships (development and benchmarks only)." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let orgCount = signature.orgs ?? 10_000
        let total = signature.memberships ?? 1_000_000
        let large = min(signature.largeOrg ?? 100_000, total)
        guard orgCount >= 1, total >= orgCount else { throw CommandLineError("--memberships must be at least --orgs") }
        let app = context.application
        try await migrate(app)
        let db = app.db
        let started = Date()
        let perSmall = orgCount > 1 ? (total - large) / (orgCount - 1) : 0
        let accountCount = max(large, perSmall * 4, 1)
        let passwordHash = try Bcrypt.hash("seeded-password", cost: 4)
        let now = Date()
        let run = UUID().uuidString.prefix(6).lowercased()

        context.console.print("Seeding \(accountCount) accounts, \(orgCount) organizations, \(total) memberships…")
        var accountIDs: [UUID] = []
        accountIDs.reserveCapacity(accountCount)
        for start in stride(from: 0, to: accountCount, by: 5000) {
            let ids = (start..<min(start + 5000, accountCount)).map { _ in UUID() }
            accountIDs += ids
            try await db.writeTransaction { db in
                for chunk in ids.enumerated().map({ ($0.offset + start, $0.element) }).chunked(400) {
                    var insert = db.sql.insert(into: AccountModel.schema)
                        .columns("id", "email", "name", "password_hash", "email_verified_at", "is_platform_admin", "created_at", "updated_at")
                    for (n, id) in chunk {
                        insert = insert.values(SQLBind(id), SQLBind("seed-\(run)-\(n)@example.com"), SQLBind("Seeded Person \(n)"),
                                               SQLBind(passwordHash), SQLBind(now), SQLBind(false), SQLBind(now), SQLBind(now))
                    }
                    try await insert.run()
                }
            }
        }

        let accounts = accountIDs
        var pairs: [String] = []
        var created = 0
        for orgIndex in 0..<orgCount {
            let orgID = UUID()
            let slug = "seed-\(run)-\(orgIndex)"
            let members = orgIndex == 0 ? large : perSmall
            let offset = orgIndex == 0 ? 0 : (orgIndex * members) % max(1, accountCount - members)
            try await db.writeTransaction { db in
                try await db.sql.insert(into: OrganizationModel.schema)
                    .columns("id", "name", "slug", "description", "join_policy", "add_policy", "invitation_ttl_days", "created_at", "updated_at")
                    .values(SQLBind(orgID), SQLBind("Seeded Org \(orgIndex)"), SQLBind(slug), SQLBind(""), SQLBind("closed"),
                            SQLBind("consent"), SQLBind(7), SQLBind(now), SQLBind(now))
                    .run()
                var roles = db.sql.insert(into: RoleModel.schema).columns("id", "org_id", "ladder", "key", "name", "rank", "permissions")
                for ladder in Ladder.allCases {
                    for role in DefaultRoles.roles(for: ladder) {
                        let row = RoleModel(orgID: orgID, ladder: ladder, role: role)
                        roles = roles.values(SQLBind(UUID()), SQLBind(orgID), SQLBind(ladder.rawValue), SQLBind(role.key), SQLBind(role.name),
                                             SQLBind(role.rank), SQLBind(row.permissions))
                    }
                }
                try await roles.run()
                for chunk in Array(0..<members).chunked(400) {
                    var insert = db.sql.insert(into: MembershipModel.schema)
                        .columns("id", "org_id", "scope_id", "account_id", "email", "name", "role_key", "status", "source",
                                 "external_id", "attributes", "created_at", "updated_at")
                    for j in chunk {
                        let accountIndex = offset + j
                        let role = j == 0 ? DefaultRoles.ownerKey : (j % 10 == 1 ? DefaultRoles.adminKey : "member")
                        insert = insert.values(
                            SQLBind(UUID()), SQLBind(orgID), SQLBind(orgID), SQLBind(accounts[accountIndex]),
                            SQLBind("seed-\(run)-\(accountIndex)@example.com"), SQLBind("Seeded Person \(accountIndex)"), SQLBind(role),
                            SQLBind("active"), SQLBind(j == 0 ? "creator" : "direct"), SQLBind("EXT-\(accountIndex)"), SQLBind("{}"),
                            SQLBind(now), SQLBind(now))
                    }
                    try await insert.run()
                }
            }
            created += members
            if pairs.count < 20_000, members > 0 {
                for j in stride(from: 0, to: members, by: max(1, members / 8)) {
                    pairs.append("\(accountIDs[offset + j].uuidString.lowercased()) \(slug)")
                }
            }
            if orgIndex % 1000 == 999 { context.console.print("  \(orgIndex + 1) organizations, \(created) memberships") }
        }

        let key = Secret.apiKeyPrefix + Secret.generate()
        let model = APIKeyModel(name: "seed \(run)", keyHash: Secret.hash(key), keyPrefix: String(key.prefix(10)))
        try await db.writeTransaction(changingAPIKeys: true) { try await model.create(on: $0) }
        let pairsPath = signature.pairs ?? "seed-pairs.txt"
        try Data((pairs.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: pairsPath))
        context.console.print("Seeded \(orgCount) organizations and \(created) memberships in \(Int(Date().timeIntervalSince(started))) s.")
        context.console.print("Large organization: seed-\(run)-0 (\(large) members)")
        context.console.print("API key: \(key)")
        context.console.print("Pairs for the authorize benchmark: \(pairsPath)")
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

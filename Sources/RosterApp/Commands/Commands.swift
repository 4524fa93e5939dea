import Vapor
import NIOConcurrencyHelpers
import Fluent
import RosterCore
import RosterStore

/// `roster migrate`: applies pending migrations without asking.
struct MigrateCommand: AsyncCommand {
    struct Signature: CommandSignature {}
    var help: String { "Applies pending database migrations." }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await migrate(context.application)
        context.console.print("Migrations are up to date.")
    }
}

/// `roster accounts create --email E --name N [--admin]`.
struct AccountsCommand: AsyncCommandGroup {
    var help: String { "Manages accounts." }
    var commands: [String: any AnyAsyncCommand] { ["create": CreateAccountCommand()] }
}

struct CreateAccountCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "email", help: "The account's email address.") var email: String?
        @Option(name: "name", help: "The account's display name.") var name: String?
        @Flag(name: "admin", help: "Make the account a platform administrator.") var admin: Bool
    }

    var help: String {
        "Creates a verified account. Prompts for the password on a terminal; otherwise reads the first line of standard input."
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let rawEmail = signature.email, let rawName = signature.name else {
            throw CommandLineError("--email and --name are required")
        }
        let password: String
        if isatty(STDIN_FILENO) != 0 {
            password = context.console.ask("Password (at least \(AccountRules.minimumPasswordLength) characters):".consoleText(), isSecure: true)
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        let request = CreateAccountRequest(email: rawEmail, name: rawName, password: password)
        let (email, name): (EmailAddress, String)
        do {
            (email, name) = try request.validated()
        } catch let error as RosterError {
            throw CommandLineError(error.detail)
        }
        try await migrate(context.application)
        let hash = try await context.application.passwordHashing.hash(password)
        do {
            let account = try await AccountStore(context.application.db).createAccount(
                email: email, name: name, passwordHash: hash, verified: true, platformAdmin: signature.admin,
                verificationTokenHash: nil, verificationExpiresAt: Date())
            context.console.print("Created \(signature.admin ? "platform administrator" : "account") \(account.email) (\(account.id!.uuidString.lowercased())).")
        } catch let error as RosterError {
            throw CommandLineError(error.detail)
        }
    }
}

/// `roster keys create --name N | list | revoke ID`.
struct KeysCommand: AsyncCommandGroup {
    var help: String { "Manages platform API keys." }
    var commands: [String: any AnyAsyncCommand] {
        ["create": CreateKeyCommand(), "list": ListKeysCommand(), "revoke": RevokeKeyCommand()]
    }
}

struct CreateKeyCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "name", help: "What the key is for.") var name: String?
    }
    var help: String { "Creates a platform API key and prints it once; only its hash is stored." }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let name = signature.name?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
            throw CommandLineError("--name is required")
        }
        try await migrate(context.application)
        let key = Secret.apiKeyPrefix + Secret.generate()
        let model = APIKeyModel(name: name, keyHash: Secret.hash(key), keyPrefix: String(key.prefix(10)))
        try await context.application.db.writeTransaction(changingAPIKeys: true) { try await model.create(on: $0) }
        context.console.print(key)
        context.console.print("Key \(model.id!.uuidString.lowercased()) '\(name)' created. Store it now: it is not shown again.", newLine: true)
    }
}

struct ListKeysCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Flag(name: "json", help: "Print a JSON array instead of lines.") var json: Bool
    }
    var help: String { "Lists API keys — platform keys and organizations' keys (id, prefix, name, reach, created, revoked)." }

    struct Listed: Encodable {
        var id: UUID?
        var prefix: String
        var name: String
        /// The organization of an organization key (nil: a platform key).
        var orgID: UUID?
        var createdAt: Date?
        var lastUsedAt: Date?
        var revokedAt: Date?
        enum CodingKeys: String, CodingKey {
            case id, prefix, name, orgID = "org_id", createdAt = "created_at", lastUsedAt = "last_used_at", revokedAt = "revoked_at"
        }
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await migrate(context.application)
        let keys = try await APIKeyModel.query(on: context.application.db).sort(\.$createdAt).all()
        if signature.json {
            return try printJSON(keys.map {
                Listed(id: $0.id, prefix: $0.keyPrefix, name: $0.name, orgID: $0.orgID, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt,
                       revokedAt: $0.revokedAt)
            })
        }
        if keys.isEmpty { context.console.print("No API keys."); return }
        let formatter = ISO8601DateFormatter()
        for key in keys {
            let revoked = key.revokedAt.map { "revoked \(formatter.string(from: $0))" } ?? "active"
            let reach = key.orgID.map { "organization \($0.uuidString.lowercased())" } ?? "platform"
            context.console.print("\(key.id!.uuidString.lowercased())  \(key.keyPrefix)…  \(key.name)  \(reach)  created \(key.createdAt.map(formatter.string(from:)) ?? "?")  \(revoked)")
        }
    }
}

struct RevokeKeyCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Argument(name: "id", help: "The key's id, as `keys list` shows it.") var id: String
    }
    var help: String { "Revokes an API key at once." }

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let id = UUID(uuidString: signature.id) else { throw CommandLineError("'\(signature.id)' is not a key id") }
        try await migrate(context.application)
        guard let key = try await APIKeyModel.find(id, on: context.application.db) else {
            throw CommandLineError("no API key has id \(signature.id)")
        }
        if key.revokedAt == nil {
            key.revokedAt = Date()
            try await context.application.db.writeTransaction(changingAPIKeys: true) { try await key.save(on: $0) }
        }
        context.console.print("Key \(signature.id) '\(key.name)' is revoked.")
    }
}

/// `roster orgs limits ORG [--invites-per-hour N|default]`.
struct OrgsCommand: AsyncCommandGroup {
    var help: String { "Manages organizations' limits." }
    var commands: [String: any AnyAsyncCommand] { ["limits": OrgLimitsCommand()] }
}

struct OrgLimitsCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Argument(name: "org", help: "The organization's id or slug.") var org: String
        @Option(name: "invites-per-hour", help: "Invitation emails it may send in an hour (past it they wait in the outbox), or 'default'.")
        var invitesPerHour: String?
    }
    var help: String { "Shows an organization's limits, or sets its invitation-email budget." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        try await migrate(app)
        let serverDefault = app.roster.limits.invitationsPerHour
        let org: OrganizationModel?
        switch signature.invitesPerHour {
        case nil:
            org = try await Directory(app.db).organization(ref: signature.org)
        case "default"?:
            org = try await OrganizationUseCases.setInvitationsPerHour(nil, of: signature.org, on: app.db)
        case let raw?:
            guard let perHour = Int(raw), LifecycleLimits.invitationsPerHourRange.contains(perHour) else {
                throw CommandLineError("--invites-per-hour takes a whole number from \(LifecycleLimits.invitationsPerHourRange.lowerBound) to \(LifecycleLimits.invitationsPerHourRange.upperBound), or 'default'")
            }
            org = try await OrganizationUseCases.setInvitationsPerHour(perHour, of: signature.org, on: app.db)
        }
        guard let org else { throw CommandLineError("no organization has id or slug '\(signature.org)'") }
        let budget = org.invitesPerHour.map { "\($0) (its own)" } ?? "\(serverDefault) (the server's default)"
        context.console.print("\(org.slug): invitation emails per hour: \(budget)")
    }
}

/// `roster config check`.
struct ConfigCommand: AsyncCommandGroup {
    var help: String { "Shows the configuration." }
    var commands: [String: any AnyAsyncCommand] { ["check": ConfigCheckCommand()] }
}

struct ConfigCheckCommand: AsyncCommand {
    struct Signature: CommandSignature {}
    var help: String {
        "Prints the effective configuration (environment over .env, NAME_FILE for NAME), secrets masked; a bad value exits 1 before this runs."
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        let settings = context.application.roster.configuration.described
        let width = settings.map(\.name.count).max() ?? 0
        for (name, value) in settings {
            context.console.print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        context.console.print("The configuration is valid.")
    }
}

/// A command-line refusal (bad input), printed as one line; the command exits with 2.
struct CommandLineError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The exit codes scripts can rely on: 0 done, 1 an error, 2 bad input (`CommandLineError`), 3 done but some rows
/// failed (`roster import`).
enum ExitCode {
    static let error: Int32 = 1
    static let badInput: Int32 = 2
    static let someRowsFailed: Int32 = 3

    /// The code for an error a command threw: bad input is what running again unchanged cannot fix (options, a file,
    /// a value); anything else (a conflict, a busy database, the network) is an error.
    static func of(_ error: any Error) -> Int32 {
        switch error {
        case is CommandLineError, is CommandError: badInput
        case let problem as RosterError:
            [.validationFailed, .invalidFile, .malformedJSON, .unsupportedMediaType, .payloadTooLarge, .unknownRole, .changeThresholdExceeded].contains(problem.code)
                ? badInput : self.error
        default: self.error
        }
    }
}

/// The code a command that ran to its end asks the process to exit with (`roster import` with failed rows: 3).
enum CommandOutcome {
    private static let requested = NIOLockedValueBox<Int32>(0)
    /// Asks for `code` once the command returns.
    static func exit(with code: Int32) { requested.withLockedValue { $0 = code } }
    /// What was asked for (0 when nothing was).
    static var code: Int32 { requested.withLockedValue { $0 } }
}

/// Writes `value` as JSON on standard output (`--json`).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
}

/// `roster domains recheck [--all]`.
struct DomainsCommand: AsyncCommandGroup {
    var help: String { "Checks organizations' verified email domains." }
    var commands: [String: any AnyAsyncCommand] { ["recheck": DomainsRecheckCommand()] }
}

struct DomainsRecheckCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Flag(name: "all", help: "Check every verified domain now, not only those last checked a day ago.") var all: Bool
    }
    var help: String { "Looks verified domains' TXT records up again now (the worker does it daily); a removed record loses the verification." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        try await migrate(app)
        let cutoff = signature.all ? Date().addingTimeInterval(1) : Date().addingTimeInterval(-DomainVerification.recheckInterval)
        let lost = try await DomainRecheck(db: app.db, resolver: app.roster.txtResolver).run(checkedBefore: cutoff, limit: 10_000)
        context.console.print("Re-checked verified domains; \(lost) lost their verification.")
    }
}

import Vapor
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
        try await context.application.db.writeTransaction { try await model.create(on: $0) }
        context.console.print(key)
        context.console.print("Key \(model.id!.uuidString.lowercased()) '\(name)' created. Store it now: it is not shown again.", newLine: true)
    }
}

struct ListKeysCommand: AsyncCommand {
    struct Signature: CommandSignature {}
    var help: String { "Lists API keys (id, prefix, name, created, revoked)." }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await migrate(context.application)
        let keys = try await APIKeyModel.query(on: context.application.db).sort(\.$createdAt).all()
        if keys.isEmpty { context.console.print("No API keys."); return }
        let formatter = ISO8601DateFormatter()
        for key in keys {
            let revoked = key.revokedAt.map { "revoked \(formatter.string(from: $0))" } ?? "active"
            context.console.print("\(key.id!.uuidString.lowercased())  \(key.keyPrefix)…  \(key.name)  created \(key.createdAt.map(formatter.string(from:)) ?? "?")  \(revoked)")
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
            try await context.application.db.writeTransaction { try await key.save(on: $0) }
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

/// A command-line refusal, printed as one line.
struct CommandLineError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

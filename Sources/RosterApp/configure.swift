import Vapor
import Fluent
import Leaf
import LeafKit
import RosterCore
import RosterStore

/// Options that are not read from the environment: test seams and tuning.
public struct ConfigureOptions: Sendable {
    /// The email transport; defaults to `FileMailer` under `<data dir>/outbox`.
    public var mailer: (any Mailer)?
    /// bcrypt cost; 12 in production, lower in tests.
    public var bcryptCost: Int
    /// Sign-in throttling policy.
    public var signInThrottle: SignInThrottle
    /// Invitation, join-request and reviewer limits.
    public var limits: RosterLimits
    /// The generation the access caches follow: the process's own, or (for a test that runs a second instance in
    /// the same process) one that only that instance's `ChangeListener` advances.
    public var changeGeneration: ChangeGeneration

    public init(mailer: (any Mailer)? = nil, bcryptCost: Int = 12, signInThrottle: SignInThrottle = SignInThrottle(), limits: RosterLimits = RosterLimits(),
                changeGeneration: ChangeGeneration = .shared) {
        self.mailer = mailer
        self.bcryptCost = bcryptCost
        self.signInThrottle = signInThrottle
        self.limits = limits
        self.changeGeneration = changeGeneration
    }
}

/// Configures `app`: database and migrations, middleware, routes, commands.
public func configure(_ app: Application, _ configuration: RosterConfiguration, options: ConfigureOptions = ConfigureOptions()) throws {
    app.databases.use(try DatabaseSetup.configuration(for: configuration.database), as: DatabaseID(string: "roster"), isDefault: true)
    app.migrations.add(RosterMigrations.all)

    app.http.server.configuration.hostname = configuration.host
    app.http.server.configuration.port = configuration.port
    app.routes.defaultMaxBodySize = "1mb"

    ContentConfiguration.global.use(encoder: JSONEncoder.roster, for: .json)
    app.passwords.use(.bcrypt(cost: options.bcryptCost))
    app.views.use(.leaf)
    app.leaf.sources = .singleSource(NIOLeafFiles(
        fileio: app.fileio, limits: [.toSandbox, .requireExtensions], sandboxDirectory: viewsDirectory, viewDirectory: viewsDirectory))

    app.middleware = Middlewares()
    app.middleware.use(AccessLogMiddleware())
    app.middleware.use(RequestIDMiddleware())
    app.middleware.use(ProblemMiddleware())

    let passwordPool = PasswordPool()
    app.lifecycle.use(passwordPool)
    app.roster = RosterServices(
        configuration: configuration,
        mailer: options.mailer ?? defaultMailer(app, configuration),
        signInThrottle: options.signInThrottle,
        signInAddressLimit: configuration.signInFailuresPerAddress > 0 ? SignInAddressLimit(failuresPerWindow: configuration.signInFailuresPerAddress) : nil,
        limits: options.limits,
        access: AccessCache(generation: options.changeGeneration),
        dummyPasswordHash: try Bcrypt.hash("roster-dummy-password", cost: options.bcryptCost),
        unusablePasswordHash: try Bcrypt.hash(Secret.generate(), cost: options.bcryptCost),
        passwordPool: passwordPool,
        txtResolver: UDPTXTResolver(server: configuration.dnsServer))

    _ = RosterMetrics.registry   // the metrics backend, before anything reports
    try app.register(collection: OperationsController())
    if configuration.metricsAddress == nil { try app.register(collection: MetricsController()) }
    try app.register(collection: AccountsController())
    try app.register(collection: VerifyEmailPage())
    try app.register(collection: OrganizationsController())
    try app.register(collection: EventsController())
    try app.register(collection: WebhooksController())
    try app.register(collection: OrganizationKeysController())
    try app.register(collection: DomainsController())
    try app.register(collection: SCIMController())
    try app.register(collection: InviteLinkJoinController())
    try app.register(collection: SpacesController())
    try app.register(collection: InvitationsController())
    try app.register(collection: MyRosterController())
    try app.register(collection: AuthorizeController())
    try app.register(collection: WebPages())

    app.asyncCommands.use(MigrateCommand(), as: "migrate")
    app.asyncCommands.use(AccountsCommand(), as: "accounts")
    app.asyncCommands.use(KeysCommand(), as: "keys")
    app.asyncCommands.use(OrgsCommand(), as: "orgs")
    app.asyncCommands.use(ConfigCommand(), as: "config")
    app.asyncCommands.use(BackupCommand(), as: "backup")
    app.asyncCommands.use(RestoreCommand(), as: "restore")
    app.asyncCommands.use(SeedCommand(), as: "seed")
    app.asyncCommands.use(ImportCommand(), as: "import")
    app.asyncCommands.use(WorkerCommand(), as: "worker")
    app.asyncCommands.use(OutboxCommand(), as: "outbox")
    app.asyncCommands.use(DomainsCommand(), as: "domains")
}

/// The transport the configuration names: `.eml` files in `<data dir>/outbox`, or SMTP.
func defaultMailer(_ app: Application, _ configuration: RosterConfiguration) -> any Mailer {
    switch configuration.mail.transport {
    case .file:
        FileMailer(directory: (configuration.dataDirectory as NSString).appendingPathComponent("outbox"), mail: configuration.mail, logger: app.logger)
    case .smtp(let settings):
        SMTPMailer(settings: settings, mail: configuration.mail, eventLoopGroup: app.eventLoopGroup)
    }
}

/// The Leaf templates shipped with the app, independent of the working directory.
let viewsDirectory = Bundle.module.bundleURL.appendingPathComponent("Views").path + "/"

/// Runs pending migrations and per-database start-up settings.
public func migrate(_ app: Application) async throws {
    try await DatabaseSetup.prepare(app.db)
    try await app.autoMigrate()
}

import Vapor
import Logging
import NIOCore
import NIOPosix
import RosterCore

/// The `roster` executable: reads the environment, configures, migrates before serving, runs the command.
public enum RosterMain {
    public static func run() async {
        // Swift concurrency runs on NIO's event loops: a request's database round trips resume where their
        // answers arrive instead of hopping to another thread (docs/decisions.md, "Tasks run on the event loops").
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let configuration: RosterConfiguration
        do {
            configuration = try RosterConfiguration.fromEnvironment(ConfigurationSources.current())
            if case .smtp(let smtp) = configuration.mail.transport, let caFile = smtp.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                throw ConfigurationError(variable: "ROSTER_SMTP_CA_FILE", message: "cannot read '\(caFile)'")
            }
        } catch {
            FileHandle.standardError.write(Data("roster: configuration error: \(error)\n".utf8))
            exit(1)
        }
        do {
            var env = try Environment.detect()
            // The server logs to standard output; a command keeps standard output for what it prints (`--json`).
            let serving = ["serve", "worker"].contains(env.arguments.dropFirst().first ?? "serve")
            switch (configuration.logFormat, serving) {
            case (.json, _):
                let write = serving ? JSONLogHandler.standardOutput : JSONLogHandler.standardError
                try LoggingSystem.bootstrap(from: &env) { level in { label in JSONLogHandler(label: label, level: level, write: write) } }
            case (.text, true):
                try LoggingSystem.bootstrap(from: &env)
            case (.text, false):
                try LoggingSystem.bootstrap(from: &env) { level in
                    { label in var handler = StreamLogHandler.standardError(label: label); handler.logLevel = level; return handler }
                }
            }
            // Every command that opens a SQLite database holds the data directory's lock (shared) while it runs, so
            // no restore replaces the database under it (and none creates an empty one while a restore is moving it).
            var lock: Int32?
            let opensDatabase = !["restore", "config"].contains(env.arguments.dropFirst().first ?? "serve")
            if opensDatabase, case .sqlite = configuration.database {
                lock = try DataDirectoryLock.take(in: configuration.dataDirectory, exclusive: false)
                if lock == nil { throw RosterError(.conflict, "roster restore is replacing the database in \(configuration.dataDirectory); try again when it is done") }
            }
            defer { lock.map { _ = close($0) } }
            let app = try await Application.make(env)
            do {
                try configure(app, configuration, options: ConfigureOptions(limits: RosterLimits(
                    invitationsPerHour: configuration.invitationsPerHour, pendingJoinRequestsPerAccount: configuration.maxPendingJoinRequests)))
                let command = env.arguments.dropFirst().first ?? "serve"
                if command == "serve" {
                    try await migrate(app)
                    app.lifecycle.use(StoreMaintenance())
                    if let address = configuration.metricsAddress { app.lifecycle.use(MetricsListener(address: address)) }
                    if configuration.runsOutboxWorker { app.lifecycle.use(OutboxWorkerLifecycle()) }
                    if case .postgres(let url) = configuration.database { app.lifecycle.use(ChangeListener(url: url)) }
                }
                try await app.execute()
            } catch {
                try? await app.asyncShutdown()
                throw error
            }
            try await app.asyncShutdown()
            if CommandOutcome.code != 0 { exit(CommandOutcome.code) }
        } catch {
            FileHandle.standardError.write(Data("roster: \(error)\n".utf8))
            exit(ExitCode.of(error))
        }
    }
}

import Vapor
import Fluent
import RosterCore
import RosterStore

/// `roster worker`: delivers the outbox in this process until interrupted (for running delivery apart from
/// `roster serve`, which then runs with `ROSTER_OUTBOX_WORKER=off`; several workers may run on PostgreSQL). With
/// `ROSTER_METRICS_ADDRESS` set it serves its own `/metrics` there (its email counters and the outbox gauges).
struct WorkerCommand: AsyncCommand {
    struct Signature: CommandSignature {}
    var help: String { "Delivers queued emails until interrupted (Ctrl-C)." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        try await migrate(app)
        let metrics = app.roster.configuration.metricsAddress.map(MetricsListener.init)
        try await metrics?.didBootAsync(app)
        context.console.print("Delivering the outbox (\(transportName(app.roster.configuration.mail.transport))); Ctrl-C stops.")
        let worker = Task { await OutboxWorker(app).run() }
        let (stop, continuation) = AsyncStream<Void>.makeStream()
        let sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        for await _ in stop { break }
        sources.forEach { $0.cancel() }
        worker.cancel()
        await worker.value
        await metrics?.shutdownAsync(app)
        context.console.print("Stopped; messages not yet delivered stay queued.")
    }

    private func transportName(_ transport: MailConfiguration.Transport) -> String {
        switch transport {
        case .file: "files in the data directory's outbox folder"
        case .smtp(let settings): "SMTP via \(settings.host):\(settings.port)"
        }
    }
}

/// `roster outbox list [--failed]` and `roster outbox retry ID|--all-transient`.
struct OutboxCommand: AsyncCommandGroup {
    var help: String { "Inspects and retries queued emails." }
    var commands: [String: any AnyAsyncCommand] { ["list": OutboxListCommand(), "retry": OutboxRetryCommand()] }
}

struct OutboxListCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Flag(name: "failed", help: "Only messages that failed (transient: retries exhausted; permanent: recipient refused).") var failed: Bool
        @Option(name: "limit", help: "How many, newest first (default 50).") var limit: Int?
        @Flag(name: "json", help: "Print a JSON array instead of lines.") var json: Bool
    }

    var help: String { "Lists outbox messages, newest first." }

    struct Listed: Encodable {
        var id: UUID?
        var status: String
        var kind: String
        var recipient: String
        var attempts: Int
        var createdAt: Date
        var nextAttemptAt: Date
        var lastError: String?
        enum CodingKeys: String, CodingKey {
            case id, status, kind, recipient, attempts, createdAt = "created_at", nextAttemptAt = "next_attempt_at", lastError = "last_error"
        }
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await migrate(context.application)
        let messages = try await OutboxDelivery(context.application.db).list(failedOnly: signature.failed, limit: max(1, signature.limit ?? 50))
        if signature.json {
            return try printJSON(messages.map {
                Listed(id: $0.id, status: $0.status, kind: $0.kind, recipient: $0.recipient, attempts: $0.attempts, createdAt: $0.createdAt,
                       nextAttemptAt: $0.nextAttemptAt, lastError: $0.lastError)
            })
        }
        if messages.isEmpty {
            context.console.print(signature.failed ? "No failed messages." : "The outbox is empty.")
            return
        }
        for message in messages {
            let id = message.id?.uuidString.lowercased() ?? "?"
            var line = "\(id)  \(message.status.padding(toLength: 16, withPad: " ", startingAt: 0)) \(message.kind.padding(toLength: 21, withPad: " ", startingAt: 0)) "
                + "\(message.recipient)  attempts \(message.attempts)  \(EmailTemplates.utcTimestamp(message.createdAt))"
            if let error = message.lastError { line += "\n    last error: \(error)" }
            context.console.print(line)
        }
    }
}

/// `roster outbox retry ID|--all-transient` (parsed by hand: ConsoleKit has no optional positional arguments).
struct OutboxRetryCommand: AnyAsyncCommand {
    var help: String { "Queues failed_transient messages for another round of attempts: one by id, or --all-transient." }

    func outputHelp(using context: inout CommandContext) {
        context.console.print("Usage: roster outbox retry ID|--all-transient")
        context.console.print(help)
    }

    func run(using context: inout CommandContext) async throws {
        let arguments = context.input.arguments
        let all = arguments == ["--all-transient"]
        let id = arguments.count == 1 ? UUID(uuidString: arguments[0]) : nil
        guard all || id != nil else {
            throw CommandLineError("usage: roster outbox retry ID|--all-transient (ids: `roster outbox list --failed`)")
        }
        try await migrate(context.application)
        let count = try await OutboxDelivery(context.application.db).retry(id: id, now: Date())
        if count == 0, !all {
            throw CommandLineError("no failed_transient message \(arguments[0]); a permanent failure needs a corrected address and a resend")
        }
        context.console.print("Queued \(count) message\(count == 1 ? "" : "s") for delivery.")
    }
}

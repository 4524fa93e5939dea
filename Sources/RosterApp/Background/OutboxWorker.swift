import Vapor
import Fluent
import NIOConcurrencyHelpers
import RosterCore
import RosterStore

/// Delivers outbox messages through the configured `Mailer` (DESIGN §5), at least once: a worker killed between
/// a server's acceptance and the settlement of its batch sends that batch again after the claim lease.
/// - transient failures retry with exponential backoff and jitter, then settle as `failed_transient`;
/// - a recipient refused for good settles as `failed_permanent`, and so does the invitation's delivery;
/// - a sender-side failure (our credentials, TLS, relay policy) or an unreachable server gives the batch back
///   untouched and pauses delivery for `pauseAfterSenderFailure`, logging one error per pause, until it is fixed.
struct OutboxWorker: Sendable {
    let db: any Database
    let mailer: any Mailer
    let renderer: EmailRenderer
    let logger: Logger
    var maximumAttempts = 8
    /// The first retry's delay in seconds; it doubles with each attempt (±20 %), up to an hour.
    var backoffBase: Double = 30
    var pauseAfterSenderFailure: TimeInterval = 60
    /// Messages claimed at once.
    var batch = 50
    /// Messages sent at the same time.
    var concurrency = 8
    /// Until when delivery is paused (shared by the copies of one worker).
    let pausedUntil = NIOLockedValueBox<Date?>(nil)

    /// Days after which accounts that never verified their address are removed (the minute sweep).
    var unverifiedAccountTTLDays = 7

    init(db: any Database, mailer: any Mailer, renderer: EmailRenderer, logger: Logger, maximumAttempts: Int = 8) {
        self.db = db
        self.mailer = mailer
        self.renderer = renderer
        self.logger = logger
        self.maximumAttempts = maximumAttempts
    }

    /// The worker of `app`, with its configured transport and attempt limit.
    init(_ app: Application) {
        self.init(db: app.db, mailer: app.roster.mailer, renderer: EmailRenderer(app), logger: app.logger,
                  maximumAttempts: app.roster.configuration.outboxMaxAttempts)
        unverifiedAccountTTLDays = app.roster.configuration.unverifiedAccountTTLDays
        webhookAllowPrivate = app.roster.configuration.webhookAllowPrivate
        webhookRetrySeconds = app.roster.configuration.webhookRetrySeconds
        txtResolver = app.roster.txtResolver
        limits = app.roster.limits
    }

    /// Delivers every due message (unless paused); returns how many were delivered. Each claimed batch is sent
    /// `concurrency` messages at a time and settled in one transaction.
    @discardableResult
    func deliverDue(now: @Sendable () -> Date = Date.init) async throws -> Int {
        if let until = pausedUntil.withLockedValue({ $0 }), until > now() { return 0 }
        let delivery = OutboxDelivery(db)
        var delivered = 0
        while !Task.isCancelled {
            let claimed = try await delivery.claim(limit: batch, now: now())
            if claimed.isEmpty { return delivered }
            let outcomes = await send(claimed)
            var settlements: [OutboxDelivery.Settlement] = []
            var giveBack: [OutboxMessageModel] = []
            var pause: (reason: String, failure: String)?
            for (message, outcome) in zip(claimed, outcomes) {
                switch outcome {
                case nil:
                    giveBack.append(message)
                case .success:
                    settlements.append(.init(message, .sent))
                    delivered += 1
                case .failure(let failure) where failure.kind == .senderSide:
                    giveBack.append(message)
                    pause = ("the mail server refused our side (no recipient is marked)", failure.message)
                case .failure(let failure) where failure.kind == .unavailable:
                    giveBack.append(message)
                    pause = pause ?? ("the mail server is unavailable (no attempt is counted)", failure.message)
                case .failure(let failure) where failure.kind == .recipientRefused:
                    logger.warning("email recipient refused", metadata: ["to": .string(message.recipient), "error": .string(failure.message)])
                    settlements.append(.init(message, .refused(error: failure.message)))
                case .failure(let failure):
                    let exhausted = message.attempts >= maximumAttempts
                    let backoff = min(3600, pow(2, Double(message.attempts - 1)) * backoffBase) * Double.random(in: 0.8...1.2)
                    logger.warning("email delivery failed", metadata: ["to": .string(message.recipient), "attempt": .stringConvertible(message.attempts),
                                                                       "error": .string(failure.message), "retry": .string(exhausted ? "no" : "in \(Int(backoff)) s")])
                    settlements.append(.init(message, exhausted ? .exhausted(error: failure.message) : .retry(error: failure.message, at: now().addingTimeInterval(backoff))))
                }
            }
            try await delivery.settle(settlements, now: now())
            for settlement in settlements {
                let result = switch settlement.result {
                case .sent: "sent"
                case .retry: "retry"
                case .exhausted: "failed_transient"
                case .refused: "failed_permanent"
                }
                RosterMetrics.emails(kind: settlement.message.kind, result: result).increment()
            }
            try await delivery.release(giveBack)
            if let pause {
                pausedUntil.withLockedValue { $0 = now().addingTimeInterval(pauseAfterSenderFailure) }
                logger.error("email delivery paused for \(Int(pauseAfterSenderFailure)) s: \(pause.reason): \(pause.failure)")
                return delivered
            }
            if !giveBack.isEmpty { return delivered }  // stopping
        }
        return delivered
    }

    /// Sends `messages`, `concurrency` at a time. An outcome is nil for a message not attempted: after a
    /// sender-side failure (it would fail the same way) or once the worker is stopping.
    private func send(_ messages: [OutboxMessageModel]) async -> [Result<Void, DeliveryFailure>?] {
        await withTaskGroup(of: (Int, Result<Void, DeliveryFailure>).self) { group in
            var outcomes = [Result<Void, DeliveryFailure>?](repeating: nil, count: messages.count)
            var next = 0
            var stop = false
            func start() {
                let index = next, message = messages[index]
                next += 1
                group.addTask {
                    do {
                        try await mailer.send(renderer.message(for: message))
                        return (index, .success(()))
                    } catch let failure as DeliveryFailure {
                        return (index, .failure(failure))
                    } catch {
                        return (index, .failure(DeliveryFailure(.transient, String(describing: error))))
                    }
                }
            }
            while next < min(concurrency, messages.count) { start() }
            for await (index, outcome) in group {
                outcomes[index] = outcome
                if case .failure(let failure) = outcome, failure.kind == .senderSide || failure.kind == .unavailable { stop = true }
                if !stop, !Task.isCancelled, next < messages.count { start() }
            }
            return outcomes
        }
    }

    /// Webhook endpoints may point to private addresses (`ROSTER_WEBHOOK_ALLOW_PRIVATE`).
    var webhookAllowPrivate = false
    /// The first webhook retry's wait (`ROSTER_WEBHOOK_RETRY_SECONDS`).
    var webhookRetrySeconds = 30
    /// Where the daily re-check of verified domains looks up their TXT records.
    var txtResolver: (any TXTResolver)?
    /// The limits of the joins the sweep goes on with (`DomainJoins.resumeBackfills`).
    var limits = RosterLimits()

    /// Delivers emails and, beside them, webhook events (`WebhookDispatcher`), every second until cancelled.
    func run() async {
        do {
            try await HTTPWebhookTransport.with(allowPrivate: webhookAllowPrivate) { transport in
                var dispatcher = WebhookDispatcher(db: db, transport: transport, logger: logger)
                dispatcher.retryBase = TimeInterval(webhookRetrySeconds)
                let webhooks = dispatcher
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await runEmails() }
                    group.addTask { await runDomains() }
                    group.addTask {
                        while !Task.isCancelled {
                            do {
                                // Until nothing is due, then once a second.
                                while try await webhooks.deliverDue() > 0, !Task.isCancelled {}
                            } catch {
                                logger.error("webhook delivery: \(String(describing: error))")
                            }
                            try? await Task.sleep(for: .seconds(1))
                        }
                    }
                }
            }
        } catch {
            logger.error("webhook client: \(String(describing: error))")
        }
    }

    /// Runs until cancelled: delivers every second; every minute requeues messages of stopped workers, expires due
    /// invitations, removes accounts that never verified their address in time and trims the webhook log.
    private func runEmails() async {
        var tick = 0
        while !Task.isCancelled {
            if tick % 60 == 0 {
                do {
                    try await OutboxDelivery(db).requeueStale(claimedBefore: Date().addingTimeInterval(-Self.claimLease))
                    try await MembershipStore(db).expireAllDue(now: Date())
                    try await AccountDeletion.removeUnverified(ttlDays: unverifiedAccountTTLDays, now: Date(), on: db)
                    try await WebhookStore(db).trimLog(before: Date().addingTimeInterval(-WebhookStore.logRetention))
                } catch {
                    logger.error("outbox maintenance: \(String(describing: error))")
                }
            }
            do { try await deliverDue() } catch {
                logger.error("outbox worker: \(String(describing: error))")
            }
            tick += 1
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Every minute, beside the emails (DNS answers and large domains never hold them up): re-checks the verified
    /// domains last checked a day ago, and goes on joining the existing accounts of `auto` domains.
    private func runDomains() async {
        while !Task.isCancelled {
            if let txtResolver {
                do {
                    try await DomainRecheck(db: db, resolver: txtResolver).run(checkedBefore: Date().addingTimeInterval(-DomainVerification.recheckInterval))
                } catch {
                    logger.error("domain re-check: \(String(describing: error))")
                }
            }
            do { try await DomainJoins(db: db, limits: limits).resumeBackfills() } catch {
                logger.error("joining by domain: \(String(describing: error))")
            }
            try? await Task.sleep(for: .seconds(60))
        }
    }

    /// How long a claim lasts before another worker may take the message over: above a batch's worst case (50
    /// messages, 8 at a time, a dozen 30-second steps each). A late settlement of a claim taken over is ignored.
    static let claimLease: TimeInterval = 3600
}

/// Runs the background work of `roster serve` until shutdown: the outbox worker (every second) and the
/// invitation-expiry sweep (every minute; reads also expire lazily).
final class OutboxWorkerLifecycle: LifecycleHandler, Sendable {
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    func didBootAsync(_ application: Application) async throws {
        let worker = OutboxWorker(application)
        task.withLockedValue { $0 = Task { await worker.run() } }
    }

    func shutdownAsync(_ application: Application) async {
        let running = task.withLockedValue { $0 }
        running?.cancel()
        await running?.value
    }
}

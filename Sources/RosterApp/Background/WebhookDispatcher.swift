import AsyncHTTPClient
import Fluent
import NIOCore
import NIOPosix
import RosterCore
import RosterStore
import Vapor

/// An answer to a webhook delivery: the HTTP status, or why there was none.
struct WebhookAnswer: Sendable, Equatable {
    var status: Int?
    var error: String?
}

/// What POSTs a signed delivery: `HTTPWebhookTransport` in the service, a scripted receiver in tests.
protocol WebhookTransport: Sendable {
    func post(url: String, headers: [(String, String)], body: [UInt8]) async -> WebhookAnswer
}

/// Signs deliveries as the Standard Webhooks specification says: `webhook-id` (the event's id, the same on every
/// attempt), `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and base64 of HMAC-SHA256 of
/// `id.timestamp.body` under the secret's bytes; one signature per valid secret, space-separated, while a rotated-out
/// secret is in its grace period).
enum WebhookSignature {
    /// A new secret: `whsec_` and 24 random bytes in base64.
    static func newSecret() -> String {
        var bytes = [UInt8](repeating: 0, count: 24)
        bytes.withUnsafeMutableBytes { RandomBytes.fill($0) }
        return "whsec_" + Data(bytes).base64EncodedString()
    }

    /// The headers of a delivery of `body` with message id `id` at `timestamp`, signed with each of `secrets`.
    static func headers(id: String, timestamp: Int, body: [UInt8], secrets: [String]) -> [(String, String)] {
        var content = Array("\(id).\(timestamp).".utf8)
        content += body
        let signatures = secrets.compactMap { secret -> String? in
            guard let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count))) else { return nil }
            let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))
            return "v1," + Data(mac).base64EncodedString()
        }
        return [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signatures.joined(separator: " ")),
                ("content-type", "application/json"), ("user-agent", "Roster-Webhooks/1")]
    }
}

/// Delivers webhook events (issue 15, point 2), run by the outbox worker beside the emails. Each due endpoint is
/// held by one worker at a time (`WebhookStore.claim`) and sent its organization's events in commit order, one at a
/// time; a failure stops the endpoint until its retry (30 s doubling, at most an hour); after three days of failures,
/// or at a 410, Roster disables it and emails its owners. Pending redeliveries go first.
struct WebhookDispatcher: Sendable {
    let db: any Database
    let transport: any WebhookTransport
    let logger: Logger
    /// Events read (and settled) at once per endpoint.
    var batch = 100
    /// The first retry's wait in seconds (`ROSTER_WEBHOOK_RETRY_SECONDS`).
    var retryBase: TimeInterval = 30
    /// How long a worker holds an endpoint; it renews the hold when half of it is gone (before each delivery) and
    /// stops, writing nothing, if it was lost meanwhile.
    static let lease: TimeInterval = 300
    /// Redeliveries sent per round, so that one organization's requests do not hold up the others' events.
    var redeliveriesPerRound = 20
    var jitter: @Sendable () -> Double = { Double.random(in: 0.8...1.2) }

    /// Sends pending redeliveries, then the events of every due endpoint; returns the deliveries accepted.
    @discardableResult
    func deliverDue(now: @Sendable () -> Date = Date.init) async throws -> Int {
        let store = WebhookStore(db)
        var delivered = 0
        var redeliveries = 0
        while !Task.isCancelled, redeliveries < redeliveriesPerRound, let (delivery, endpoint, event) = try await store.claimRedelivery(now: now()) {
            redeliveries += 1
            guard let id = delivery.id else { continue }
            guard endpoint.enabled else {
                try await store.settleRedelivery(id, delivered: false, responseStatus: nil, durationMS: 0, error: "the endpoint is disabled", now: now())
                continue
            }
            guard let event, let payload = EventResponse(event) else {
                try await store.settleRedelivery(id, delivered: false, responseStatus: nil, durationMS: 0, error: "the event is no longer kept", now: now())
                continue
            }
            let (answer, ms) = try await send(payload, to: endpoint, now: now())
            let accepted = WebhookRules.outcome(status: answer.status) == .delivered
            if accepted { delivered += 1 }
            try await store.settleRedelivery(id, delivered: accepted, responseStatus: answer.status, durationMS: ms, error: answer.error, now: now())
        }
        for id in try await store.due(now: now(), limit: 50) where !Task.isCancelled {
            guard let endpoint = try await store.claim(id, now: now(), lease: Self.lease) else { continue }
            delivered += try await deliver(endpoint, now: now)
        }
        return delivered
    }

    /// Sends `endpoint`'s events after its cursor, in order, until it is caught up or one fails.
    private func deliver(_ endpoint: WebhookEndpointModel, now: @Sendable () -> Date) async throws -> Int {
        let store = WebhookStore(db)
        let types = endpoint.eventTypeSet
        var cursor = endpoint.cursor
        var failedAttempts = endpoint.attempts
        var delivered = 0
        var held = endpoint.leaseUntil ?? now()
        /// Whether this worker still holds the endpoint, renewing the hold when half of it is gone.
        func stillHeld() async throws -> Bool {
            guard now() > held.addingTimeInterval(-Self.lease / 2) else { return true }
            guard let id = endpoint.id, let token = endpoint.leaseToken else { return false }
            held = now().addingTimeInterval(Self.lease)
            return try await store.renew(id, token: token, until: held)
        }
        while true {
            let events = Task.isCancelled ? [] : try await store.events(orgID: endpoint.orgID, after: cursor, limit: batch)
            if events.isEmpty {
                try await store.settle(endpoint, cursor: cursor, attempts: [], standing: .caughtUp, keepLease: nil, now: now())
                return delivered
            }
            var log: [WebhookStore.Attempt] = []
            for event in events {
                guard let seq = event.seq, let id = event.id else { continue }
                guard let payload = EventResponse(event), types?.contains(payload.type) ?? true else {
                    cursor = seq   // not an event this endpoint takes
                    continue
                }
                // Lost the hold (another worker has the endpoint now): stop without writing; it resends from the cursor.
                guard try await stillHeld() else { return delivered }
                let (answer, ms) = try await send(payload, to: endpoint, now: now())
                let outcome = WebhookRules.outcome(status: answer.status)
                let attempt = failedAttempts + 1
                failedAttempts = attempt
                log.append(.init(eventID: id, eventSeq: seq, eventType: payload.type, attempt: attempt, delivered: outcome == .delivered,
                                 responseStatus: answer.status, durationMS: ms, error: answer.error))
                switch outcome {
                case .delivered:
                    cursor = seq
                    failedAttempts = 0
                    delivered += 1
                case .gone:
                    logger.warning("webhook endpoint answered 410 Gone; disabled", metadata: ["url": .string(endpoint.url)])
                    try await store.settle(endpoint, cursor: cursor, attempts: log, standing: .disabled(reason: "gone"), keepLease: nil, now: now())
                    return delivered
                case .failed:
                    let since = (delivered == 0 ? endpoint.failingSince : nil) ?? now()
                    let standing: WebhookStore.Standing
                    if now().timeIntervalSince(since) >= WebhookRules.giveUpAfter {
                        logger.warning("webhook endpoint failing for three days; disabled", metadata: ["url": .string(endpoint.url)])
                        standing = .disabled(reason: "failing")
                    } else {
                        let retry = now().addingTimeInterval(WebhookRules.retryDelay(afterAttempt: failedAttempts, base: retryBase, jitter: jitter()))
                        standing = .retry(at: retry, attempts: failedAttempts, failingSince: since)
                    }
                    try await store.settle(endpoint, cursor: cursor, attempts: log, standing: standing, keepLease: nil, now: now())
                    return delivered
                }
            }
            guard try await store.settle(endpoint, cursor: cursor, attempts: log, standing: .caughtUp, keepLease: Self.lease, now: now()) else {
                return delivered
            }
            held = now().addingTimeInterval(Self.lease)
        }
    }

    /// POSTs one event, signed with the endpoint's valid secrets; the answer and how long it took (ms).
    private func send(_ event: EventResponse, to endpoint: WebhookEndpointModel, now: Date) async throws -> (WebhookAnswer, Int) {
        let body = Array(try JSONEncoder.roster.encode(event))
        var secrets = [endpoint.secret]
        if let previous = endpoint.previousSecret, let until = endpoint.previousSecretUntil, until > now { secrets.append(previous) }
        let headers = WebhookSignature.headers(id: event.id.uuidString.lowercased(), timestamp: Int(now.timeIntervalSince1970), body: body, secrets: secrets)
        let started = ContinuousClock.now
        let answer = await transport.post(url: endpoint.url, headers: headers, body: body)
        let elapsed = ContinuousClock.now - started
        return (answer, Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
    }
}

/// Deliveries over HTTP: a POST with a 10-second limit, no redirects followed, and — unless
/// `ROSTER_WEBHOOK_ALLOW_PRIVATE` — only to public addresses, checked after resolving the host at each delivery.
struct HTTPWebhookTransport: WebhookTransport {
    let client: HTTPClient
    let allowPrivate: Bool

    /// Runs `body` with a transport whose HTTP client is shut down when it returns.
    static func with<T: Sendable>(allowPrivate: Bool, _ body: (HTTPWebhookTransport) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        configuration.decompression = .disabled
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        do {
            let result = try await body(HTTPWebhookTransport(client: client, allowPrivate: allowPrivate))
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    func post(url: String, headers: [(String, String)], body: [UInt8]) async -> WebhookAnswer {
        let target: WebhookRules.Target
        do { target = try WebhookRules.target(of: url, allowPrivate: allowPrivate) } catch { return WebhookAnswer(status: nil, error: error.detail) }
        if !allowPrivate, let refusal = await HostAddresses.refusal(of: target.host) { return WebhookAnswer(status: nil, error: refusal) }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return WebhookAnswer(status: Int(response.status.code), error: nil)
        } catch {
            return WebhookAnswer(status: nil, error: String(describing: error).prefix(300).description)
        }
    }
}

/// The addresses a host name resolves to (the system's resolver, on NIO's thread pool: `getaddrinfo` blocks).
enum HostAddresses {
    /// Why a webhook may not reach `host` — it does not resolve, or one of its addresses is not public — or nil.
    /// Checked when an endpoint is saved and again at each delivery.
    static func refusal(of host: String) async -> String? {
        guard let addresses = try? await resolve(host), !addresses.isEmpty else { return "\(host) does not resolve" }
        return addresses.allSatisfy(IPAddress.isPublic) ? nil : "\(host) resolves to a private, loopback or reserved address"
    }

    static func resolve(_ host: String) async throws -> [[UInt8]] {
        if let literal = IPAddress.bytes(of: host) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
            defer { freeaddrinfo(result) }
            var addresses: [[UInt8]] = []
            var next = result
            while let info = next {
                if info.pointee.ai_family == AF_INET, let address = info.pointee.ai_addr {
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin_addr) { addresses.append(Array($0)) }
                    }
                } else if info.pointee.ai_family == AF_INET6, let address = info.pointee.ai_addr {
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { addresses.append(Array($0)) }
                    }
                }
                next = info.pointee.ai_next
            }
            return addresses
        }
    }
}

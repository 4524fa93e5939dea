import Vapor
import NIOConcurrencyHelpers
import Fluent
import Metrics
import Prometheus
import RosterCore
import RosterStore

/// Roster's metrics, in the Prometheus text format at `GET /metrics` (issue 14, point 1). Vapor reports every request
/// through swift-metrics (`http_requests_total` and the `http_request_duration_seconds` histogram, by route template,
/// method and status); Roster adds its own counters, and gauges of the outbox and the invitations read at each
/// scrape. One registry per process: swift-metrics has a single backend.
enum RosterMetrics {
    /// The process's registry, made the swift-metrics backend the first time it is used.
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Request durations from a millisecond to ten seconds.
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                                   .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                                   .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// `POST /v1/authorize` answered from the in-process cache, or read from the database.
    static let authorizeCacheHits = Metrics.Counter(label: "roster_authorize_cache_total", dimensions: [("result", "hit")])
    static let authorizeCacheMisses = Metrics.Counter(label: "roster_authorize_cache_total", dimensions: [("result", "miss")])

    /// Rows of applied imports, by outcome (or failure reason).
    static func importRows(_ outcome: String) -> Metrics.Counter {
        Metrics.Counter(label: "roster_import_rows_total", dimensions: [("outcome", outcome)])
    }

    /// Emails settled by the outbox worker, by kind and result (`sent`, `retry`, `failed_transient`, `failed_permanent`).
    static func emails(kind: String, result: String) -> Metrics.Counter {
        Metrics.Counter(label: "roster_emails_total", dimensions: [("kind", kind), ("result", result)])
    }

    /// The text of a scrape: every metric of the process, then the database's gauges (written here, not kept in the
    /// registry: they are the database's state, the same from every instance, and a label that no longer applies
    /// disappears with it).
    static func scrape(on db: any Database, cache: BacklogCache) async throws -> [UInt8] {
        let backlog = try await cache.backlog(on: db, now: Date())
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        var text = "# TYPE roster_outbox_messages gauge\n"
        for (state, count) in backlog.messages.sorted(by: { $0.key < $1.key }) { text += "roster_outbox_messages{state=\"\(state)\"} \(count)\n" }
        text += "# TYPE roster_outbox_oldest_due_seconds gauge\nroster_outbox_oldest_due_seconds \(backlog.oldestDueSeconds)\n"
        text += "# TYPE roster_pending_invitations gauge\n"
        let deliveries = ["queued": 0, "sent": 0, "failed_transient": 0, "failed_permanent": 0].merging(backlog.invitations) { $1 }
        for (delivery, count) in deliveries.sorted(by: { $0.key < $1.key }) { text += "roster_pending_invitations{delivery=\"\(delivery)\"} \(count)\n" }
        buffer += Array(text.utf8)
        return buffer
    }
}

/// The outbox and invitation figures of the last scrape, read again at most every few seconds (scrapes are not
/// authenticated: a flood of them costs the database one read per interval).
final class BacklogCache: Sendable {
    static let reuse: TimeInterval = 5
    private let last = NIOLockedValueBox<(at: Date, backlog: OutboxDelivery.Backlog)?>(nil)

    /// The figures, read now or at most `reuse` seconds ago.
    func backlog(on db: any Database, now: Date) async throws -> OutboxDelivery.Backlog {
        if let last = last.withLockedValue({ $0 }), now.timeIntervalSince(last.at) < Self.reuse { return last.backlog }
        let backlog = try await OutboxDelivery(db).backlog(now: now)
        last.withLockedValue { $0 = (now, backlog) }
        return backlog
    }
}

/// `GET /metrics`: on the public listener, or alone on `ROSTER_METRICS_ADDRESS`.
struct MetricsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.get("metrics", use: metrics)
    }

    @Sendable func metrics(req: Request) async throws -> Response {
        try await Self.response(app: req.application, db: req.db)
    }

    /// The scrape as an HTTP response.
    static func response(app: Application, db: any Database) async throws -> Response {
        let text = try await RosterMetrics.scrape(on: db, cache: app.roster.backlogCache)
        var headers = HTTPHeaders()
        headers.replaceOrAdd(name: .contentType, value: "text/plain; version=0.0.4; charset=utf-8")
        return Response(status: .ok, headers: headers, body: .init(buffer: ByteBuffer(bytes: text)))
    }
}

/// `/metrics` alone on `ROSTER_METRICS_ADDRESS`, started with `roster serve` and stopped with it.
struct MetricsListener: LifecycleHandler {
    let address: RosterConfiguration.ListenAddress

    /// Answers `GET /metrics`, and 404 to anything else.
    struct MetricsResponder: Responder {
        let app: Application

        func respond(to request: Request) -> EventLoopFuture<Response> {
            guard request.method == .GET, request.url.path == "/metrics" else {
                return request.eventLoop.makeSucceededFuture(Response(status: .notFound))
            }
            let db = app.db
            let app = self.app
            return request.eventLoop.makeFutureWithTask {
                try await MetricsController.response(app: app, db: db)
            }
        }
    }

    private struct ServerKey: StorageKey { typealias Value = HTTPServer }

    func didBootAsync(_ application: Application) async throws {
        let server = HTTPServer(application: application, responder: MetricsResponder(app: application),
                                configuration: .init(hostname: address.host, port: address.port))
        // A started HTTPServer writes its configuration into the application's, which `serve` binds next: keep the
        // main listener's.
        let main = application.http.server.configuration
        try await server.start(address: .hostname(address.host, port: address.port))
        application.http.server.configuration = main
        application.storage[ServerKey.self] = server
        application.logger.notice("Metrics on http://\(address.host):\(address.port)/metrics")
    }

    func shutdownAsync(_ application: Application) async {
        await application.storage[ServerKey.self]?.shutdown()
    }
}

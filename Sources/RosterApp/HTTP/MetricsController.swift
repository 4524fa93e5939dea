import Vapor
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

    /// The text of a scrape: the gauges read from the database now, then every metric.
    static func scrape(on db: any Database) async throws -> [UInt8] {
        let backlog = try await OutboxDelivery(db).backlog(now: Date())
        for (state, count) in backlog.messages {
            Metrics.Gauge(label: "roster_outbox_messages", dimensions: [("state", state)]).record(count)
        }
        Metrics.Gauge(label: "roster_outbox_oldest_due_seconds").record(backlog.oldestDueSeconds)
        let deliveries = ["queued": 0, "sent": 0, "failed_transient": 0, "failed_permanent": 0].merging(backlog.invitations) { $1 }
        for (delivery, count) in deliveries {
            Metrics.Gauge(label: "roster_pending_invitations", dimensions: [("delivery", delivery)]).record(count)
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

/// `GET /metrics`: on the public listener, or alone on `ROSTER_METRICS_ADDRESS`.
struct MetricsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.get("metrics", use: metrics)
    }

    @Sendable func metrics(req: Request) async throws -> Response {
        try await metrics(req: req, db: req.db)
    }

    func metrics(req: Request, db: any Database) async throws -> Response {
        let text = try await RosterMetrics.scrape(on: db)
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
            return request.eventLoop.makeFutureWithTask {
                try await MetricsController().metrics(req: request, db: db)
            }
        }
    }

    private struct ServerKey: StorageKey { typealias Value = HTTPServer }

    func didBootAsync(_ application: Application) async throws {
        let server = HTTPServer(application: application, responder: MetricsResponder(app: application),
                                configuration: .init(hostname: address.host, port: address.port))
        try await server.start(address: .hostname(address.host, port: address.port))
        application.storage[ServerKey.self] = server
        application.logger.notice("Metrics on http://\(address.host):\(address.port)/metrics")
    }

    func shutdownAsync(_ application: Application) async {
        await application.storage[ServerKey.self]?.shutdown()
    }
}

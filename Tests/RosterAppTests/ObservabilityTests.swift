import Foundation
import Testing
import Vapor
import Logging
import NIOConcurrencyHelpers
@testable import RosterApp
import RosterCore
import RosterTesting

/// Keeps what a logger writes.
struct CapturingLogHandler: LogHandler {
    let lines: NIOLockedValueBox<[(message: String, metadata: Logger.Metadata)]>
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lines.withLockedValue { $0.append((event.message.description, metadata.merging(event.metadata ?? [:]) { $1 })) }
    }
}

/// Issue 14, points 1 and 2: metrics an operator can alert on, and an access log.
@Suite struct ObservabilityTests {
    func value(_ metrics: String, _ series: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test(arguments: TestBackend.available)
    func metricsShowRequestsImportsAndTheOutbox(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let csv = "email\n" + (0..<3).map { "m\($0)@example.com" }.joined(separator: "\n") + "\n"
            #expect(try await t.importCSV("/v1/orgs/\(org)", csv, token: owner).status == .ok)

            let scrape = try await t.send(.GET, "/metrics")
            #expect(scrape.status == .ok && scrape.headers.first(name: .contentType)?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = scrape.text
            #expect(try #require(value(text, #"http_requests_total{method="POST",path="/v1/orgs/:org/imports",status="200"}"#)) >= 1,
                    "requests by route template, method and status")
            #expect(text.contains(#"http_request_duration_seconds_bucket{method="POST",path="/v1/orgs/:org/imports",status="200",le="0.005"}"#))
            #expect(try #require(value(text, #"roster_import_rows_total{outcome="invited"}"#)) >= 3)
            // The owner's verification email and the three invitations wait for the worker (none runs in tests).
            #expect(value(text, #"roster_outbox_messages{state="due"}"#) == 4)
            #expect(value(text, #"roster_pending_invitations{delivery="queued"}"#) == 3)
            #expect(try #require(value(text, "roster_outbox_oldest_due_seconds")) >= 0)
            // Every write transaction so far (sign-up, organization, import) reported how long it waited to begin.
            let name = backend == .sqlite ? "sqlite" : "postgresql"
            #expect(try #require(value(text, #"roster_db_write_wait_seconds_count{backend="\#(name)"}"#)) >= 3)
        }
    }

    @Test func theAccessLogHasOneLinePerRequestAndNeverAToken() async throws {
        try await TestApp.with(.sqlite) { t in
            let lines = NIOLockedValueBox<[(message: String, metadata: Logger.Metadata)]>([])
            t.app.logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
            _ = try await t.send(.GET, "/i/secret-invitation-token")
            _ = try await t.send(.GET, "/nowhere/at/all")
            let access = lines.withLockedValue { $0 }.filter { $0.metadata["access"] != nil }
            #expect(access.count == 2)
            let first = try #require(access.first)
            #expect(first.metadata["route"]?.description == "/i/:token" && first.metadata["method"]?.description == "GET")
            #expect(first.metadata["status"]?.description == "200" && first.metadata["request_id"] != nil && first.metadata["duration_ms"] != nil)
            #expect(access.last?.metadata["route"]?.description == "unmatched" && access.last?.metadata["status"]?.description == "404")
            #expect(!access.contains { $0.message.contains("secret") || $0.metadata.description.contains("secret") })
        }
    }

    @Test func jsonLogsAreOneObjectPerLine() throws {
        let written = NIOLockedValueBox<[String]>([])
        var logger = Logger(label: "roster.test") { label in JSONLogHandler(label: label, level: .info) { line in written.withLockedValue { $0.append(line) } } }
        logger[metadataKey: "request_id"] = "abc"
        logger.info("GET /healthz 200", metadata: ["status": .stringConvertible(200)])
        logger.debug("not at this level")
        let lines = written.withLockedValue { $0 }
        #expect(lines.count == 1 && !lines[0].contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "GET /healthz 200" && object["level"] as? String == "info")
        #expect(object["request_id"] as? String == "abc" && object["status"] as? String == "200" && object["time"] is String)
    }

    @Test func metricsMoveOffThePublicListenerWhenGivenAnAddress() async throws {
        #expect(try RosterConfiguration.fromEnvironment(["ROSTER_METRICS_ADDRESS": "127.0.0.1:9090"]).metricsAddress
            == .init(host: "127.0.0.1", port: 9090))
        for bad in ["9090", "localhost:", ":9090", "host:99999"] {
            #expect(throws: ConfigurationError.self) { try RosterConfiguration.fromEnvironment(["ROSTER_METRICS_ADDRESS": bad]) }
        }
        try await TestApp.with(.sqlite, configuring: { $0.metricsAddress = .init(host: "127.0.0.1", port: 9090) }) { t in
            #expect(try await t.send(.GET, "/metrics").status == .notFound, "not on the public listener")
            let responder = MetricsListener.MetricsResponder(app: t.app)
            let scrape = try await responder.respond(to: Request(application: t.app, method: .GET, url: "/metrics", on: t.app.eventLoopGroup.next())).get()
            #expect(scrape.status == .ok && scrape.body.string?.contains("roster_outbox_messages") == true)
            let other = try await responder.respond(to: Request(application: t.app, method: .GET, url: "/v1/me", on: t.app.eventLoopGroup.next())).get()
            #expect(other.status == .notFound)
        }
    }
}

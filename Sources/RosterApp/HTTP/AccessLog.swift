import Vapor
import NIOConcurrencyHelpers

/// One access-log line per request (issue 14, point 2): method, route template (`/v1/orgs/:org/members`, never the
/// raw path, which may hold a token), status, duration and request id. Outermost, so it sees the final status.
struct AccessLogMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next.respond(to: request)
            log(request, status: response.status.code, since: start)
            return response
        } catch {
            log(request, status: 500, since: start)
            throw error
        }
    }

    private func log(_ request: Request, status: UInt, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let route = request.route.map { "/" + $0.path.map(\.description).joined(separator: "/") } ?? "unmatched"
        let method = String(request.method.rawValue.prefix(16))   // a client may send any word
        request.application.logger.info("\(method) \(route) \(status) \(String(format: "%.1f", milliseconds)) ms", metadata: [
            "access": "1", "method": .string(method), "route": .string(route), "status": .stringConvertible(status),
            "duration_ms": .string(String(format: "%.2f", milliseconds)), "request_id": .string(request.id),
        ])
    }
}

/// One JSON object per log line (`ROSTER_LOG_FORMAT=json`): `time`, `level`, `label`, `message` and the metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    /// Where lines go (standard output, or a test's buffer).
    let write: @Sendable (String) -> Void

    init(label: String, level: Logger.Level, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardOutput) {
        self.label = label
        self.logLevel = level
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: Any] = [:]
        func plain(_ value: Logger.Metadata.Value) -> Any {
            switch value {
            case .string(let text): text
            case .stringConvertible(let value): value.description
            case .array(let values): values.map(plain)
            case .dictionary(let values): values.mapValues(plain)
            }
        }
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { object[key] = plain(value) }
        object["time"] = Date().formatted(Self.timeFormat)
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = event.message.description
        guard let data = try? JSONObjectText.data(object) else { return }
        write(String(decoding: data, as: UTF8.self))
    }

    /// `2026-12-06T23:59:01.123Z` (a value type: safe from every thread).
    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    private static let output = NIOLock()
    /// Writes a line to standard output, whole.
    static let standardOutput: @Sendable (String) -> Void = { line in
        output.withLock { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }
    /// Writes a line to standard error, whole.
    static let standardError: @Sendable (String) -> Void = { line in
        output.withLock { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}

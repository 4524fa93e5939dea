import Foundation
import Logging
import NIOCore
import NIOPosix
import FluentPostgresDriver
import RosterCore

/// The storage backends the store and API suites run on: SQLite always, PostgreSQL when
/// `ROSTER_TEST_POSTGRES_URL` is set.
public enum TestBackend: String, Sendable, CustomStringConvertible, CaseIterable {
    case sqlite, postgres

    /// The backends available in this run.
    public static var available: [TestBackend] {
        ProcessInfo.processInfo.environment["ROSTER_TEST_POSTGRES_URL"].map { $0.isEmpty ? [.sqlite] : [.sqlite, .postgres] } ?? [.sqlite]
    }

    public var description: String { rawValue }
}

/// A database made for one test and dropped after it.
public struct ScratchDatabase: Sendable {
    public var location: DatabaseLocation
    public var drop: @Sendable () async -> Void
    /// Whether the schema is already migrated (PostgreSQL copies a migrated template).
    public var migrated: Bool

    public init(location: DatabaseLocation, drop: @escaping @Sendable () async -> Void, migrated: Bool) {
        self.location = location
        self.drop = drop
        self.migrated = migrated
    }
}

extension TestBackend {
    public func makeScratchDatabase() async throws -> ScratchDatabase {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("roster-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return ScratchDatabase(
                location: .sqlite(path: directory.appendingPathComponent("roster.sqlite").path),
                drop: { try? FileManager.default.removeItem(at: directory) },
                migrated: false)
        case .postgres:
            return try await PostgresScratch.shared.make()
        }
    }
}

/// Creates per-test PostgreSQL databases by copying a template migrated once per test process.
actor PostgresScratch {
    static let shared = PostgresScratch()

    private var template: String?
    private let baseURL = ProcessInfo.processInfo.environment["ROSTER_TEST_POSTGRES_URL"] ?? ""

    func make() async throws -> ScratchDatabase {
        let template = try await templateName()
        let name = "roster_t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        try await admin("CREATE DATABASE \(name) TEMPLATE \(template)")
        let url = Self.url(baseURL, database: name)
        return ScratchDatabase(
            location: .postgres(url: url),
            drop: { try? await PostgresScratch.shared.admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") },
            migrated: true)
    }

    private func templateName() async throws -> String {
        if let template { return template }
        let name = "roster_tpl_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        try await admin("CREATE DATABASE \(name)")
        try await StoreDatabase.migrate(location: .postgres(url: Self.url(baseURL, database: name)))
        template = name
        return name
    }

    /// Runs one statement on the maintenance database named in `ROSTER_TEST_POSTGRES_URL`.
    func admin(_ sql: String) async throws {
        let config = try SQLPostgresConfiguration(url: baseURL)
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(),
            configuration: config.coreConfiguration, id: 1, logger: Logger(label: "roster.tests.postgres"))
        defer { Task { try? await connection.close() } }
        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "roster.tests.postgres"))
    }

    static func url(_ base: String, database: String) -> String {
        guard var components = URLComponents(string: base) else { return base }
        components.path = "/" + database
        return components.string ?? base
    }
}

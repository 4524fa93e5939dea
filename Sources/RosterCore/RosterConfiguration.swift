import Foundation

/// Where Roster keeps its data.
public enum DatabaseLocation: Sendable, Equatable {
    /// A SQLite file.
    case sqlite(path: String)
    /// A PostgreSQL server, by its `postgres://` URL.
    case postgres(url: String)
}

/// A configuration value that stops start-up; its description is the one line shown to the operator.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The environment variable at fault.
    public var variable: String
    /// What is wrong with it.
    public var message: String

    public var description: String { "\(variable): \(message)" }
}

/// Everything Roster reads from its environment, with the documented defaults.
public struct RosterConfiguration: Sendable, Equatable {
    /// `ROSTER_DATA_DIR`, default `./data`.
    public var dataDirectory: String
    /// `DATABASE_URL` (postgres) or the SQLite file `roster.sqlite` in the data directory.
    public var database: DatabaseLocation
    /// `ROSTER_HOST`, default `127.0.0.1`.
    public var host: String
    /// `ROSTER_PORT`, default `8080`.
    public var port: Int
    /// `ROSTER_BASE_URL`, default `http://HOST:PORT`; used in emailed links. No trailing slash.
    public var baseURL: String
    /// `ROSTER_MAX_PENDING_JOIN_REQUESTS`, default 1: pending join requests one account may have across all organizations.
    public var maxPendingJoinRequests: Int = 1

    public init(dataDirectory: String, database: DatabaseLocation, host: String, port: Int, baseURL: String) {
        self.dataDirectory = dataDirectory
        self.database = database
        self.host = host
        self.port = port
        self.baseURL = baseURL
    }

    /// Reads the configuration from `environment`, refusing bad values with the variable's name.
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigurationError) -> RosterConfiguration {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        let dataDirectory = value("ROSTER_DATA_DIR") ?? "./data"

        let database: DatabaseLocation
        if let url = value("DATABASE_URL") {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"),
                  let parsed = URL(string: url), parsed.host != nil else {
                throw ConfigurationError(variable: "DATABASE_URL", message: "must be a postgres:// URL with a host (unset it to use SQLite), got '\(url)'")
            }
            database = .postgres(url: url)
        } else {
            database = .sqlite(path: (dataDirectory as NSString).appendingPathComponent("roster.sqlite"))
        }

        let host = value("ROSTER_HOST") ?? "127.0.0.1"
        if host.contains(where: { $0 == "/" || $0 == " " }) {
            throw ConfigurationError(variable: "ROSTER_HOST", message: "must be a host name or IP address, got '\(host)'")
        }
        var port = 8080
        if let raw = value("ROSTER_PORT") {
            guard let parsed = Int(raw), (1...65535).contains(parsed) else {
                throw ConfigurationError(variable: "ROSTER_PORT", message: "must be a port number from 1 to 65535, got '\(raw)'")
            }
            port = parsed
        }
        var baseURL = "http://\(host):\(port)"
        if let raw = value("ROSTER_BASE_URL") {
            guard let url = URL(string: raw), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigurationError(variable: "ROSTER_BASE_URL", message: "must be an http:// or https:// URL, got '\(raw)'")
            }
            baseURL = raw.hasSuffix("/") ? String(raw.dropLast()) : raw
        }
        var configuration = RosterConfiguration(dataDirectory: dataDirectory, database: database, host: host, port: port, baseURL: baseURL)
        if let raw = value("ROSTER_MAX_PENDING_JOIN_REQUESTS") {
            guard let parsed = Int(raw), (1...1000).contains(parsed) else {
                throw ConfigurationError(variable: "ROSTER_MAX_PENDING_JOIN_REQUESTS", message: "must be a number from 1 to 1000, got '\(raw)'")
            }
            configuration.maxPendingJoinRequests = parsed
        }
        return configuration
    }
}

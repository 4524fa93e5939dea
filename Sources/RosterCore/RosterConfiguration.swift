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

    /// A refusal of `variable`'s value.
    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }
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
    /// `ROSTER_INVITES_PER_HOUR`, default 500: invitation emails an organization may send in an hour unless it has its
    /// own budget (`roster orgs limits`); past it, invitations are still made and their emails wait in the outbox.
    public var invitationsPerHour: Int = LifecycleLimits().invitationsPerHour
    /// `ROSTER_TRUSTED_PROXY`: addresses (comma-separated) of the reverse proxies whose `X-Forwarded-For` is believed
    /// for a request's client address; without it, the socket's address is the client's.
    public var trustedProxies: Set<String> = []
    /// `ROSTER_SIGN_IN_FAILURES_PER_ADDRESS`, default 0 (off): failed sign-ins one client address (an IPv6 /64) may
    /// make in 15 minutes, whatever the emails. Counted per server instance. Behind a proxy, set `ROSTER_TRUSTED_PROXY`
    /// first, or every client has the proxy's address.
    public var signInFailuresPerAddress = 0
    /// `ROSTER_UNVERIFIED_TTL_DAYS`, default 7: accounts that never verified their address are removed after this
    /// many days, so nobody can hold someone else's address by signing up with it.
    public var unverifiedAccountTTLDays: Int = 7
    /// How email leaves (`ROSTER_MAIL_*`, `ROSTER_SMTP_*`).
    public var mail = MailConfiguration()
    /// `ROSTER_OUTBOX_WORKER`, `on` (default) or `off`: whether `roster serve` delivers the outbox itself (off when
    /// separate `roster worker` processes do).
    public var runsOutboxWorker = true
    /// `ROSTER_WEBHOOK_ALLOW_PRIVATE`, `false` (default) or `true`: whether webhook endpoints may point to private,
    /// loopback or reserved addresses (and use plain `http`), for receivers on the same machine or network.
    public var webhookAllowPrivate = false
    /// `ROSTER_WEBHOOK_RETRY_SECONDS`, default 30: the wait before a failed webhook delivery is tried again; it
    /// doubles with each failure in a row, up to an hour.
    public var webhookRetrySeconds = 30
    /// `ROSTER_DNS_SERVER` (`HOST` or `HOST:PORT`): the DNS server domain verification asks for TXT records; by
    /// default the first `nameserver` of `/etc/resolv.conf`.
    public var dnsServer: String?
    /// `ROSTER_METRICS_ADDRESS` (`HOST:PORT`, e.g. `127.0.0.1:9090`): `/metrics` is served there alone instead of on
    /// the public listener, so it can be kept private.
    public var metricsAddress: ListenAddress?
    /// `ROSTER_LOG_FORMAT`, `text` (default) or `json` (one JSON object per line).
    public var logFormat: LogFormat = .text

    /// How log lines are written.
    public enum LogFormat: String, Sendable, Equatable { case text, json }

    /// A host and port to listen on.
    public struct ListenAddress: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }
    /// `ROSTER_OUTBOX_MAX_ATTEMPTS`, default 8: delivery attempts before a message is `failed_transient`.
    public var outboxMaxAttempts = 8

    public init(dataDirectory: String, database: DatabaseLocation, host: String, port: Int, baseURL: String) {
        self.dataDirectory = dataDirectory
        self.database = database
        self.host = host
        self.port = port
        self.baseURL = baseURL
    }

    /// `url` with its password replaced by `***`, for messages and logs.
    public static func redacted(_ url: String) -> String {
        // The user information ends at the last `@` before the query: a password may hold `@`, and also `/` when it
        // was not percent-encoded (an `@` in the path would mask more than the password, never less).
        guard let scheme = url.range(of: "://") else { return url }
        let queryStart = url[scheme.upperBound...].firstIndex(of: "?") ?? url.endIndex
        guard let at = url[scheme.upperBound..<queryStart].range(of: "@", options: .backwards) else { return url }
        let userinfo = url[scheme.upperBound..<at.lowerBound]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at.lowerBound...])
    }

    /// Reads the configuration from `environment` (see `ConfigurationSources`), refusing bad values with the
    /// variable's name.
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
                throw ConfigurationError(variable: "DATABASE_URL", message: "must be a postgres:// URL with a host (unset it to use SQLite), got '\(Self.redacted(url))'")
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
        if let raw = value("ROSTER_INVITES_PER_HOUR") {
            let range = LifecycleLimits.invitationsPerHourRange
            guard let parsed = Int(raw), range.contains(parsed) else {
                throw ConfigurationError(variable: "ROSTER_INVITES_PER_HOUR", message: "must be a number from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
            }
            configuration.invitationsPerHour = parsed
        }
        if let raw = value("ROSTER_TRUSTED_PROXY") {
            let addresses = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let canonical = addresses.compactMap(ClientAddress.canonical)
            guard !addresses.isEmpty, canonical.count == addresses.count else {
                throw ConfigurationError(variable: "ROSTER_TRUSTED_PROXY", message: "must be IP addresses separated by commas, got '\(raw)'")
            }
            configuration.trustedProxies = Set(canonical)
        }
        if let raw = value("ROSTER_SIGN_IN_FAILURES_PER_ADDRESS") {
            guard let parsed = Int(raw), (0...1_000_000).contains(parsed) else {
                throw ConfigurationError(variable: "ROSTER_SIGN_IN_FAILURES_PER_ADDRESS", message: "must be a number from 0 (off) to 1000000, got '\(raw)'")
            }
            configuration.signInFailuresPerAddress = parsed
        }
        if let raw = value("ROSTER_UNVERIFIED_TTL_DAYS") {
            guard let parsed = Int(raw), (1...365).contains(parsed) else {
                throw ConfigurationError(variable: "ROSTER_UNVERIFIED_TTL_DAYS", message: "must be a number of days from 1 to 365, got '\(raw)'")
            }
            configuration.unverifiedAccountTTLDays = parsed
        }
        if let raw = value("ROSTER_METRICS_ADDRESS") {
            guard let colon = raw.lastIndex(of: ":"), let port = Int(raw[raw.index(after: colon)...]), (1...65535).contains(port),
                  colon != raw.startIndex else {
                throw ConfigurationError(variable: "ROSTER_METRICS_ADDRESS", message: "must be HOST:PORT, e.g. 127.0.0.1:9090, got '\(raw)'")
            }
            var host = raw[..<colon]
            if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }   // [::1]:9090
            configuration.metricsAddress = ListenAddress(host: String(host), port: port)
        }
        if let raw = value("ROSTER_LOG_FORMAT") {
            guard let format = LogFormat(rawValue: raw) else {
                throw ConfigurationError(variable: "ROSTER_LOG_FORMAT", message: "must be text or json, got '\(raw)'")
            }
            configuration.logFormat = format
        }
        if let raw = value("ROSTER_OUTBOX_WORKER") {
            guard ["on", "off"].contains(raw) else {
                throw ConfigurationError(variable: "ROSTER_OUTBOX_WORKER", message: "must be on or off, got '\(raw)'")
            }
            configuration.runsOutboxWorker = raw == "on"
        }
        if let raw = value("ROSTER_WEBHOOK_ALLOW_PRIVATE") {
            guard ["true", "false"].contains(raw) else {
                throw ConfigurationError(variable: "ROSTER_WEBHOOK_ALLOW_PRIVATE", message: "must be true or false, got '\(raw)'")
            }
            configuration.webhookAllowPrivate = raw == "true"
        }
        if let raw = value("ROSTER_DNS_SERVER"), !raw.isEmpty {
            guard !raw.contains(where: \.isWhitespace), !raw.contains("/") else {
                throw ConfigurationError(variable: "ROSTER_DNS_SERVER", message: "must be HOST or HOST:PORT, got '\(raw)'")
            }
            configuration.dnsServer = raw
        }
        if let raw = value("ROSTER_WEBHOOK_RETRY_SECONDS") {
            guard let parsed = Int(raw), (1...3600).contains(parsed) else {
                throw ConfigurationError(variable: "ROSTER_WEBHOOK_RETRY_SECONDS", message: "must be a number of seconds from 1 to 3600, got '\(raw)'")
            }
            configuration.webhookRetrySeconds = parsed
        }
        if let raw = value("ROSTER_OUTBOX_MAX_ATTEMPTS") {
            guard let parsed = Int(raw), (1...100).contains(parsed) else {
                throw ConfigurationError(variable: "ROSTER_OUTBOX_MAX_ATTEMPTS", message: "must be a number from 1 to 100, got '\(raw)'")
            }
            configuration.outboxMaxAttempts = parsed
        }
        configuration.mail = try MailConfiguration.fromEnvironment(value)
        return configuration
    }
}

/// The email transport and sender.
public struct MailConfiguration: Sendable, Equatable {
    /// How messages leave the outbox.
    public enum Transport: Sendable, Equatable {
        /// `.eml` files in `<data dir>/outbox` (the default; nothing leaves the machine).
        case file
        /// An SMTP submission server.
        case smtp(SMTPSettings)
    }

    /// `ROSTER_SMTP_*`.
    public struct SMTPSettings: Sendable, Equatable {
        /// `ROSTER_SMTP_SECURITY`: upgrade with STARTTLS, TLS from the first byte, or none.
        public enum Security: String, Sendable, Equatable { case starttls, tls, none }
        /// `ROSTER_SMTP_HOST`.
        public var host: String
        /// `ROSTER_SMTP_PORT` (587, 465 or 25 by security mode).
        public var port: Int
        public var security: Security
        /// `ROSTER_SMTP_USERNAME` and `ROSTER_SMTP_PASSWORD`, for AUTH PLAIN or LOGIN.
        public var username: String?
        public var password: String?
        /// A PEM file of extra trusted certificates (a private CA or a self-signed server).
        public var caFile: String?

        /// Settings as the environment gives them.
        public init(host: String, port: Int, security: Security, username: String? = nil, password: String? = nil, caFile: String? = nil) {
            self.host = host
            self.port = port
            self.security = security
            self.username = username
            self.password = password
            self.caFile = caFile
        }
    }

    /// `ROSTER_MAIL_TRANSPORT`: `file` (default) or `smtp`.
    public var transport: Transport = .file
    /// `ROSTER_MAIL_FROM`, the sender address, default `roster@localhost`.
    public var fromAddress = "roster@localhost"
    /// `ROSTER_MAIL_FROM_NAME`, the sender's display name, default `Roster`.
    public var fromName = "Roster"

    /// The defaults: `.eml` files, from `Roster <roster@localhost>`.
    public init() {}

    static func fromEnvironment(_ value: (String) -> String?) throws(ConfigurationError) -> MailConfiguration {
        var mail = MailConfiguration()
        if let from = value("ROSTER_MAIL_FROM") {
            guard EmailAddress(from) != nil else {
                throw ConfigurationError(variable: "ROSTER_MAIL_FROM", message: "must be an email address like roster@example.com, got '\(from)'")
            }
            mail.fromAddress = from
        }
        if let name = value("ROSTER_MAIL_FROM_NAME") { mail.fromName = name }
        switch value("ROSTER_MAIL_TRANSPORT") ?? "file" {
        case "file":
            mail.transport = .file
        case "smtp":
            guard let host = value("ROSTER_SMTP_HOST") else {
                throw ConfigurationError(variable: "ROSTER_SMTP_HOST", message: "is required when ROSTER_MAIL_TRANSPORT=smtp")
            }
            let rawSecurity = value("ROSTER_SMTP_SECURITY") ?? "starttls"
            guard let security = SMTPSettings.Security(rawValue: rawSecurity) else {
                throw ConfigurationError(variable: "ROSTER_SMTP_SECURITY", message: "must be starttls, tls or none, got '\(rawSecurity)'")
            }
            var port = security == .tls ? 465 : security == .starttls ? 587 : 25
            if let raw = value("ROSTER_SMTP_PORT") {
                guard let parsed = Int(raw), (1...65535).contains(parsed) else {
                    throw ConfigurationError(variable: "ROSTER_SMTP_PORT", message: "must be a port number from 1 to 65535, got '\(raw)'")
                }
                port = parsed
            }
            let username = value("ROSTER_SMTP_USERNAME"), password = value("ROSTER_SMTP_PASSWORD")
            if username != nil, password == nil {
                throw ConfigurationError(variable: "ROSTER_SMTP_PASSWORD", message: "is required when ROSTER_SMTP_USERNAME is set")
            }
            let caFile = value("ROSTER_SMTP_CA_FILE")
            mail.transport = .smtp(SMTPSettings(host: host, port: port, security: security, username: username, password: password, caFile: caFile))
        case let other:
            throw ConfigurationError(variable: "ROSTER_MAIL_TRANSPORT", message: "must be file or smtp, got '\(other)'")
        }
        return mail
    }
}

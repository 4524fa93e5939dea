import Foundation

/// Where settings come from (issue 14, point 3): the process environment over a `.env` file in the working
/// directory, and any setting `NAME` also as `NAME_FILE`, the path of a file holding its value (for secrets kept in
/// files, as Docker and systemd credentials do).
public enum ConfigurationSources {
    /// The `KEY=VALUE` lines of a `.env` file: blank lines and `#` comments are skipped, an `export ` prefix is
    /// allowed, a value may be wrapped in single or double quotes (kept as written inside), and an unquoted value ends
    /// at ` #`. A line that is not `KEY=VALUE` is refused with its number.
    public static func parseDotEnv(_ text: String) throws(ConfigurationError) -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let equals = line.firstIndex(of: "="),
                  case let key = line[..<equals].trimmingCharacters(in: .whitespaces), !key.isEmpty,
                  key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw ConfigurationError(variable: ".env", message: "line \(index + 1) is not KEY=VALUE")
            }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if let quote = value.first, quote == "\"" || quote == "'",
               let close = value.dropFirst().firstIndex(of: quote),
               case let rest = value[value.index(after: close)...].trimmingCharacters(in: .whitespaces), rest.isEmpty || rest.hasPrefix("#") {
                value = String(value[value.index(after: value.startIndex)..<close])
            } else if let comment = value.range(of: " #") {
                value = value[..<comment.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            values[key] = value
        }
        return values
    }

    /// The settings: `environment` over `dotEnv`. In each, a setting `NAME` (`DATABASE_URL` or `ROSTER_…`) may be
    /// given as `NAME_FILE`, a file whose contents (without a final line break) are its value — read before the two
    /// are merged, so the real environment wins whichever way either gives it. `NAME` and `NAME_FILE` together in
    /// one source are refused.
    public static func merged(environment: [String: String], dotEnv: [String: String]) throws(ConfigurationError) -> [String: String] {
        try withFilesRead(dotEnv).merging(try withFilesRead(environment)) { _, real in real }
    }

    /// `source` with each `NAME_FILE` replaced by `NAME`, its file's contents.
    static func withFilesRead(_ source: [String: String]) throws(ConfigurationError) -> [String: String] {
        var settings = source
        for (key, path) in source where key.hasSuffix("_FILE") && key != "ROSTER_SMTP_CA_FILE" {
            let name = String(key.dropLast(5))
            guard name == "DATABASE_URL" || name.hasPrefix("ROSTER_") else { continue }   // another program's setting
            guard source[name] == nil else {
                throw ConfigurationError(variable: key, message: "is set together with \(name); give one of them")
            }
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(variable: key, message: "cannot read '\(path)'")
            }
            var value = contents
            while value.hasSuffix("\n") || value.hasSuffix("\r") { value.removeLast() }
            settings[name] = value
            settings[key] = nil
        }
        return settings
    }

    /// The settings of this process: its environment over `.env` in the working directory (if there is one).
    public static func current() throws(ConfigurationError) -> [String: String] {
        let environment = ProcessInfo.processInfo.environment
        let path = FileManager.default.currentDirectoryPath + "/.env"
        guard FileManager.default.fileExists(atPath: path) else { return try merged(environment: environment, dotEnv: [:]) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(variable: ".env", message: "cannot read '\(path)'")
        }
        return try merged(environment: environment, dotEnv: parseDotEnv(text))
    }
}

extension RosterConfiguration {
    /// The effective settings by variable name, secrets masked (`roster config check`).
    public var described: [(name: String, value: String)] {
        var lines: [(String, String)] = [
            ("ROSTER_DATA_DIR", dataDirectory),
        ]
        switch database {
        case .sqlite(let path): lines.append(("database", "SQLite at \(path)"))
        case .postgres(let url): lines.append(("DATABASE_URL", Self.redacted(url)))
        }
        lines += [
            ("ROSTER_HOST", host), ("ROSTER_PORT", String(port)), ("ROSTER_BASE_URL", baseURL),
            ("ROSTER_INVITES_PER_HOUR", String(invitationsPerHour)),
            ("ROSTER_MAX_PENDING_JOIN_REQUESTS", String(maxPendingJoinRequests)),
            ("ROSTER_UNVERIFIED_TTL_DAYS", String(unverifiedAccountTTLDays)),
            ("ROSTER_TRUSTED_PROXY", trustedProxies.sorted().joined(separator: ",")),
            ("ROSTER_SIGN_IN_FAILURES_PER_ADDRESS", signInFailuresPerAddress == 0 ? "0 (off)" : String(signInFailuresPerAddress)),
            ("ROSTER_METRICS_ADDRESS", metricsAddress.map { "\($0.host):\($0.port)" } ?? "(on the public listener)"),
            ("ROSTER_LOG_FORMAT", logFormat.rawValue),
            ("ROSTER_OUTBOX_WORKER", runsOutboxWorker ? "on" : "off"),
            ("ROSTER_WEBHOOK_ALLOW_PRIVATE", webhookAllowPrivate ? "true" : "false"),
            ("ROSTER_WEBHOOK_RETRY_SECONDS", String(webhookRetrySeconds)),
            ("ROSTER_DNS_SERVER", dnsServer ?? "(the system's, /etc/resolv.conf)"),
            ("ROSTER_OUTBOX_MAX_ATTEMPTS", String(outboxMaxAttempts)),
            ("ROSTER_MAIL_FROM", mail.fromAddress), ("ROSTER_MAIL_FROM_NAME", mail.fromName),
        ]
        switch mail.transport {
        case .file:
            lines.append(("ROSTER_MAIL_TRANSPORT", "file"))
        case .smtp(let smtp):
            lines += [("ROSTER_MAIL_TRANSPORT", "smtp"), ("ROSTER_SMTP_HOST", smtp.host), ("ROSTER_SMTP_PORT", String(smtp.port)),
                      ("ROSTER_SMTP_SECURITY", smtp.security.rawValue), ("ROSTER_SMTP_USERNAME", smtp.username ?? ""),
                      ("ROSTER_SMTP_PASSWORD", smtp.password == nil ? "" : "***"), ("ROSTER_SMTP_CA_FILE", smtp.caFile ?? "")]
        }
        return lines
    }
}

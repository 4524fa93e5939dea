import Foundation

/// A member attribute a space defines (DESIGN §1): an enum with allowed values, or a boolean, with an optional default.
public struct AttributeDefinition: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case `enum`, boolean }

    public var key: String
    public var type: Kind
    /// Allowed values, for `enum`.
    public var values: [String]?
    /// The value a member gets when none is given.
    public var `default`: String?

    public init(key: String, type: Kind, values: [String]? = nil, default: String? = nil) {
        self.key = key
        self.type = type
        self.values = values
        self.default = `default`
    }

    enum CodingKeys: String, CodingKey { case key, type, values, `default` }

    /// A boolean's default is a JSON boolean (a string `"true"` is still read).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.decode(String.self, forKey: .key)
        type = try c.decode(Kind.self, forKey: .type)
        values = try c.decodeIfPresent([String].self, forKey: .values)
        if let flag = try? c.decodeIfPresent(Bool.self, forKey: .default) {
            `default` = flag ? "true" : "false"
        } else {
            `default` = try c.decodeIfPresent(String.self, forKey: .default)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(type, forKey: .type)
        try c.encodeIfPresent(values, forKey: .values)
        if type == .boolean, let value = `default`.flatMap(Self.boolean) {
            try c.encode(value == "true", forKey: .default)
        } else {
            try c.encodeIfPresent(`default`, forKey: .default)
        }
    }

    /// The problems with a list of definitions, empty when they are acceptable.
    public static func issues(_ definitions: [AttributeDefinition]) -> [FieldIssue] {
        var issues: [FieldIssue] = []
        var seen = Set<String>()
        let reserved: Set<String> = ["email", "name", "role", "external_id", "status"]
        for (i, d) in definitions.enumerated() {
            let field = "attributes[\(i)]"
            if d.key.range(of: "^[a-z][a-z0-9_]{0,39}$", options: .regularExpression) == nil || reserved.contains(d.key) {
                issues.append(FieldIssue(field: "\(field).key", message: "must be 1–40 characters of a–z, 0–9 and _, not a built-in column"))
            }
            if !seen.insert(d.key).inserted { issues.append(FieldIssue(field: "\(field).key", message: "'\(d.key)' is defined twice")) }
            switch d.type {
            case .enum:
                let values = d.values ?? []
                if values.isEmpty || Set(values).count != values.count {
                    issues.append(FieldIssue(field: "\(field).values", message: "must list distinct allowed values"))
                }
                // Stored and shown as JSON booleans, true and false belong to boolean attributes.
                if values.contains(where: { ["true", "false"].contains($0.lowercased()) }) {
                    issues.append(FieldIssue(field: "\(field).values", message: "cannot hold true or false: use a boolean attribute"))
                }
                if let value = d.default, !values.contains(value) {
                    issues.append(FieldIssue(field: "\(field).default", message: "must be one of the values"))
                }
            case .boolean:
                if d.values != nil { issues.append(FieldIssue(field: "\(field).values", message: "is only for enum attributes")) }
                if let value = d.default, AttributeDefinition.boolean(value) == nil {
                    issues.append(FieldIssue(field: "\(field).default", message: "must be true or false"))
                }
            }
        }
        return issues
    }

    /// A boolean cell or JSON string: `true/false`, `yes/no`, `1/0` (case-insensitive), canonicalized.
    public static func boolean(_ raw: String) -> String? {
        switch trimmedOfSpaces(raw).lowercased() {
        case "true", "yes", "1": "true"
        case "false", "no", "0": "false"
        default: nil
        }
    }

    /// The member's attribute values after applying `given` to `current` under `definitions`: unknown keys and
    /// invalid values are refused; missing ones keep their current value or take the default.
    public static func resolve(_ given: [String: String], current: [String: String] = [:], definitions: [AttributeDefinition],
                               fieldPrefix: String = "attributes") throws(RosterError) -> [String: String] {
        var issues: [FieldIssue] = []
        var result: [String: String] = [:]
        if given.keys.contains(where: { key in !definitions.contains { $0.key == key } }) {
            for key in given.keys.sorted() where !definitions.contains(where: { $0.key == key }) {
                issues.append(FieldIssue(field: "\(fieldPrefix).\(key)", message: "is not an attribute this roster defines"))
            }
        }
        for d in definitions {
            guard let raw = given[d.key] else {
                if let value = current[d.key] ?? d.default { result[d.key] = value }
                continue
            }
            switch d.type {
            case .enum:
                let value = trimmedOfSpaces(raw)
                if let match = (d.values ?? []).first(where: { equalIgnoringCase($0, value) }) {
                    result[d.key] = match
                } else {
                    issues.append(FieldIssue(field: "\(fieldPrefix).\(d.key)", message: "must be one of \((d.values ?? []).joined(separator: ", "))"))
                }
            case .boolean:
                if let value = boolean(raw) { result[d.key] = value } else {
                    issues.append(FieldIssue(field: "\(fieldPrefix).\(d.key)", message: "must be true or false"))
                }
            }
        }
        if !issues.isEmpty { throw RosterError.validation(issues) }
        return result
    }

    /// `s` without leading and trailing `.whitespaces` (Foundation's trimming, skipped when `s` starts and ends with
    /// ASCII other than space and tab, which is almost always).
    static func trimmedOfSpaces(_ s: String) -> String {
        guard let first = s.utf8.first, let last = s.utf8.last, first < 0x80, last < 0x80,
              first != 0x20, first != 0x09, last != 0x20, last != 0x09 else {
            return s.trimmingCharacters(in: .whitespaces)
        }
        return s
    }

    /// `a.caseInsensitiveCompare(b) == .orderedSame`, compared byte by byte when both are ASCII.
    static func equalIgnoringCase(_ a: String, _ b: String) -> Bool {
        let isASCII: (String) -> Bool = { $0.utf8.allSatisfy { $0 < 0x80 } }
        guard isASCII(a), isASCII(b) else { return a.caseInsensitiveCompare(b) == .orderedSame }
        func lower(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte + 0x20 : byte }
        return a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { lower($0) == lower($1) }
    }
}

/// A member attribute value as JSON carries it: a string (an enum's value), or a boolean. Inside Roster a boolean is
/// the text `true` or `false` (CSV cells, comparisons); only the JSON edges (the API, stored values, reports) use
/// JSON booleans.
public enum AttributeValue: Codable, Sendable, Equatable {
    case string(String)
    case boolean(Bool)

    /// The value as JSON shows it: `true` and `false` (a boolean attribute's only values) as booleans.
    public init(text: String) {
        switch text {
        case "true": self = .boolean(true)
        case "false": self = .boolean(false)
        default: self = .string(text)
        }
    }

    /// The value inside Roster.
    public var text: String {
        switch self {
        case .string(let text): text
        case .boolean(let flag): flag ? "true" : "false"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let flag = try? c.decode(Bool.self) { self = .boolean(flag) } else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let text): try c.encode(text)
        case .boolean(let flag): try c.encode(flag)
        }
    }
}

import Foundation

/// Who may ask to join.
public enum JoinPolicy: String, Codable, Sendable, CaseIterable {
    /// Invitation only.
    case closed
    /// Signed-in verified accounts may request; reviewers approve.
    case request
}

/// How admins bring existing accounts in.
public enum AddPolicy: String, Codable, Sendable, CaseIterable {
    /// Invitations only: the invitee accepts.
    case consent
    /// Institution mode: existing accounts may be added as active members at once.
    case direct
}

extension AddPolicy {
    /// Refuses switching a scope to `direct` — adding existing accounts without their consent — unless the actor is
    /// platform administration or an API key (institution mode is the platform's to grant, DESIGN §2). Switching back
    /// to `consent` is anyone's who may manage the scope.
    public static func requireMayChange(from old: AddPolicy, to new: AddPolicy, byPlatform: Bool) throws(RosterError) {
        if new == .direct && old != .direct && !byPlatform {
            throw RosterError(.forbidden, "Only platform administration or an API key can set add_policy to direct (institution mode).")
        }
    }
}

/// An organization's (or space's) settings.
public struct ScopeSettings: Codable, Sendable, Equatable {
    public var joinPolicy: JoinPolicy
    public var addPolicy: AddPolicy
    public var invitationTTLDays: Int
    /// Active plus pending rows allowed; nil for no limit.
    public var seatLimit: Int?

    public init(joinPolicy: JoinPolicy = .closed, addPolicy: AddPolicy = .consent, invitationTTLDays: Int = 7, seatLimit: Int? = nil) {
        self.joinPolicy = joinPolicy
        self.addPolicy = addPolicy
        self.invitationTTLDays = invitationTTLDays
        self.seatLimit = seatLimit
    }

    enum CodingKeys: String, CodingKey {
        case joinPolicy = "join_policy"
        case addPolicy = "add_policy"
        case invitationTTLDays = "invitation_ttl_days"
        case seatLimit = "seat_limit"
    }

    /// Every invalid setting.
    public func issues(prefix: String = "settings") -> [FieldIssue] {
        var issues: [FieldIssue] = []
        if !(0...90).contains(invitationTTLDays) {
            issues.append(FieldIssue(field: "\(prefix).invitation_ttl_days", message: "must be from 0 to 90"))
        }
        if let seatLimit, seatLimit < 1 || seatLimit > 10_000_000 {
            issues.append(FieldIssue(field: "\(prefix).seat_limit", message: "must be from 1 to 10000000, or null for no limit"))
        }
        return issues
    }
}

/// Organization names and slugs.
public enum OrganizationRules {
    /// The trimmed name of an organization or space, or an issue: 1–200 characters without line breaks.
    public static func name(_ raw: String, field: String = "name") -> Result<String, FieldIssue> {
        let name = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200, !AccountRules.hasControlCharacters(name) else {
            return .failure(FieldIssue(field: field, message: "must be 1–200 characters without line breaks"))
        }
        return .success(name)
    }

    /// A URL slug from a name: lowercase ASCII letters and digits joined by single hyphens, at most 48 characters.
    public static func slug(from name: String) -> String {
        let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: Locale(identifier: "en_US_POSIX")).lowercased()
        var slug = ""
        var pendingHyphen = false
        for scalar in folded.unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                if pendingHyphen && !slug.isEmpty { slug.append("-") }
                slug.unicodeScalars.append(scalar)
                pendingHyphen = false
            } else {
                pendingHyphen = true
            }
            if slug.count >= 48 { break }
        }
        return slug.isEmpty ? "org" : slug
    }

    /// Whether `slug` is acceptable as given by a person: 2–48 of a–z, 0–9 and inner hyphens, not a UUID.
    public static func isValidSlug(_ slug: String) -> Bool {
        slug.range(of: "^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])$", options: .regularExpression) != nil
            && !slug.contains("--") && UUID(uuidString: slug) == nil
    }
}

/// An opaque keyset cursor: the sort key of the last item of a page.
public struct PageCursor: Sendable, Equatable {
    /// The last item's sort value (a name, email or timestamp rendered as text).
    public var key: String
    /// The last item's id, breaking ties.
    public var id: UUID

    public init(key: String, id: UUID) {
        self.key = key
        self.id = id
    }

    /// base64url of `key` NUL `id`.
    public var encoded: String {
        Data((key + "\u{0}" + id.uuidString).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Decodes a cursor, or refuses it with `validation_failed`.
    public static func decode(_ raw: String) throws(RosterError) -> PageCursor {
        var base64 = raw.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
              let separator = text.lastIndex(of: "\u{0}"),
              let id = UUID(uuidString: String(text[text.index(after: separator)...])) else {
            throw RosterError.validation([FieldIssue(field: "cursor", message: "is not a cursor this API returned")])
        }
        return PageCursor(key: String(text[..<separator]), id: id)
    }

    /// Validates `limit` (default 50, 1–200).
    public static func limit(_ raw: Int?) throws(RosterError) -> Int {
        let limit = raw ?? 50
        guard (1...200).contains(limit) else {
            throw RosterError.validation([FieldIssue(field: "limit", message: "must be from 1 to 200")])
        }
        return limit
    }
}

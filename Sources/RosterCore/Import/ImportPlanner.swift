import Foundation

/// The outcome of one import row (DESIGN §4).
public enum ImportOutcome: String, Codable, Sendable {
    case invited, added, alreadyInvited = "already_invited", alreadyMember = "already_member", failed, failedToSend = "failed_to_send"
}

/// Why an import row failed (DESIGN §4), as the report names it.
public enum ImportFailureReason: String, Codable, Sendable, CaseIterable {
    case duplicateEmailInFile = "duplicate_email_in_file"
    case duplicateExternalIDInFile = "duplicate_external_id_in_file"
    case externalIDTaken = "external_id_taken"
    case invalidAttribute = "invalid_attribute"
    case invalidEmail = "invalid_email"
    case invalidExternalID = "invalid_external_id"
    case invalidName = "invalid_name"
    case joinRequestPending = "join_request_pending"
    case missingEmail = "missing_email"
    case notPermitted = "not_permitted"
    case roleNotAllowed = "role_not_allowed"
    case seatLimit = "seat_limit"
    case unknownRole = "unknown_role"
}

/// A live row of the roster being imported into, as the planner sees it.
public struct RosterSnapshotRow: Sendable, Equatable {
    public var id: UUID
    public var email: String
    public var status: MembershipStatus
    public var source: MembershipSource
    public var roleKey: String
    public var name: String?
    public var externalID: String?
    public var attributes: [String: String]
    public var deliveryFailedPermanently: Bool
    /// The account holding the row (active rows and join requests).
    public var accountID: UUID?

    public init(id: UUID, email: String, status: MembershipStatus, source: MembershipSource, roleKey: String, name: String?,
                externalID: String?, attributes: [String: String], deliveryFailedPermanently: Bool, accountID: UUID? = nil) {
        self.accountID = accountID
        self.id = id
        self.email = email
        self.status = status
        self.source = source
        self.roleKey = roleKey
        self.name = name
        self.externalID = externalID
        self.attributes = attributes
        self.deliveryFailedPermanently = deliveryFailedPermanently
    }
}

/// Everything the planner decides from: the roster's live rows and the rules of the scope and the importer.
public struct ImportContext: Sendable {
    public var rows: [RosterSnapshotRow]
    public var ladder: RoleLadder
    public var authority: Authority
    public var definitions: [AttributeDefinition]
    public var directAdd: Bool
    /// Emails of verified accounts (for direct adds).
    public var verifiedAccounts: Set<String>
    public var seatLimit: Int?
    /// Set for a sync import: the file is the truth for the roster.
    public var sync: SyncOptions?

    public init(rows: [RosterSnapshotRow], ladder: RoleLadder, authority: Authority, definitions: [AttributeDefinition],
                directAdd: Bool, verifiedAccounts: Set<String>, seatLimit: Int?, sync: SyncOptions? = nil) {
        self.sync = sync
        self.rows = rows
        self.ladder = ladder
        self.authority = authority
        self.definitions = definitions
        self.directAdd = directAdd
        self.verifiedAccounts = verifiedAccounts
        self.seatLimit = seatLimit
    }
}

/// A sync import (`mode=sync`): rows the file lists are imported as usual, and their role column is applied to
/// existing members too; live rows it does not list end (active → removed, pending invitations → revoked), except
/// owners, the importer's own row, pending join requests, and rows the importer may not end.
public struct SyncOptions: Sendable, Equatable {
    /// The importing person's account, whose own row is never ended.
    public var importerAccountID: UUID?
    /// The largest share of the live rows (percent) a sync may end; more refuses the whole sync.
    public var changeThreshold: Int

    /// The default `change_threshold`, in percent.
    public static let defaultChangeThreshold = 10

    public init(importerAccountID: UUID?, changeThreshold: Int = SyncOptions.defaultChangeThreshold) {
        self.importerAccountID = importerAccountID
        self.changeThreshold = changeThreshold
    }
}

/// A live row a sync import found missing from the file: ended (removed or revoked), or kept and why.
public struct SyncRow: Sendable, Equatable, Codable {
    public var id: UUID
    public var email: String
    public var role: String
    public var status: MembershipStatus
    public var externalID: String?
    /// `not_in_file` for an ended row; for a kept one `owner`, `importer`, `join_request` or `not_permitted`.
    public var reason: String

    enum CodingKeys: String, CodingKey { case id, email, role, status, reason, externalID = "external_id" }
}

/// What a sync import ends, and what it keeps although the file does not list it.
public struct SyncOutcome: Sendable, Equatable, Codable {
    /// Live rows of the roster before the sync.
    public var live: Int
    public var changeThreshold: Int
    /// Whether ending `removed` and `revoked` would pass the threshold (the sync is then refused unless a dry run).
    public var exceeded: Bool
    public var removed: [SyncRow] = []
    public var revoked: [SyncRow] = []
    public var kept: [SyncRow] = []

    enum CodingKeys: String, CodingKey { case live, exceeded, removed, revoked, kept, changeThreshold = "change_threshold" }

    /// Rows the sync ends.
    public var ending: Int { removed.count + revoked.count }
}

/// One line of the report.
public struct ImportRowReport: Sendable, Equatable, Codable {
    public var line: Int
    public var email: String
    public var name: String?
    public var role: String?
    public var externalID: String?
    public var attributes: [String: String]
    public var outcome: ImportOutcome
    public var updated: Bool
    public var previousExternalID: String?
    public var reason: ImportFailureReason?

    enum CodingKeys: String, CodingKey {
        case line, email, name, role, attributes, outcome, updated, reason
        case externalID = "external_id", previousExternalID = "previous_external_id"
    }
}

/// What to write: new rows, changes to existing ones.
public struct ImportPlan: Sendable, Equatable {
    public struct NewRow: Sendable, Equatable {
        public var line: Int
        public var email: String
        public var name: String?
        public var roleKey: String
        public var externalID: String?
        public var attributes: [String: String]
        /// Active at once (direct add); otherwise a pending invitation.
        public var active: Bool
    }

    public struct Change: Sendable, Equatable {
        public var id: UUID
        public var line: Int
        public var externalID: String?
        public var attributes: [String: String]
        /// Activate a pending join request (both sides consented) with this role.
        public var activateWithRole: String?
        /// A sync's new role for the member, and the role it replaces.
        public var roleKey: String? = nil
        public var previousRoleKey: String? = nil
        /// The member's email (for the audit entry and its event).
        public var email: String? = nil
    }

    public var newRows: [NewRow] = []
    public var changes: [Change] = []
    /// A sync's endings and kept rows (nil for an ordinary import).
    public var sync: SyncOutcome?
}

/// The import planner: a pure function from a file and a roster snapshot to a plan and a report (DESIGN §4, §7).
public enum ImportPlanner {
    /// Plans `table` against `context`. Order does not matter: external IDs freed by any row can be claimed by any
    /// other, and swaps succeed.
    ///
    /// Written for 100,000-row files: rows are referred to by index, external IDs by number, and a report is
    /// written in place rather than copied, so a row costs a few hash lookups and no more copies than it needs.
    public static func plan(_ table: CSVTable, columns: ImportColumns, context: ImportContext) -> (ImportPlan, [ImportRowReport]) {
        func cell(_ cells: [String], _ index: Int?) -> String? {
            guard let index, index < cells.count else { return nil }
            let value = cells[index]
            return value.isEmpty ? nil : value
        }
        let rows = context.rows
        // Roster rows by email (the first, should there be two), as indices: candidates refer to rows rather than copy them.
        var existing: [String: Int] = [:]
        existing.reserveCapacity(rows.count)
        for (index, row) in rows.enumerated() where existing[row.email] == nil { existing[row.email] = index }

        // External IDs by number, so that pass 2 compares and counts integers.
        var idNumbers: [String: Int] = [:]
        idNumbers.reserveCapacity(rows.count + table.records.count)
        func number(_ id: String?) -> Int? {
            guard let id else { return nil }
            func value(_ number: inout Int) -> Int { number }
            let next = idNumbers.count
            return value(&idNumbers[id, default: next])   // one lookup, inserting `next` when new
        }
        let rosterIDs = rows.map { number($0.externalID) }

        // Pass 1: per-row validation, independent of other rows.
        struct Candidate {
            var email: String
            /// Index of the roster row with this email.
            var existing: Int?
            /// Index of the role in the ladder (new rows and join requests only).
            var role: Int?
            var attributes: [String: String]
            /// A sync's new role for an existing member (index in the ladder).
            var newRole: Int? = nil
        }
        /// A candidate's external IDs by number: the one the row names, the one it will hold, the one its roster row
        /// holds now.
        struct ExternalIDs {
            var claim: Int?, desired: Int?, kept: Int?
        }
        let roles = context.ladder.roles
        let grantable = roles.map { context.authority.outranks($0) }
        let mayReview = context.authority.permissions.contains(.requestsReview)
        /// The ladder index of `key` (the lowest role when nil), or nil when the ladder has no such role.
        func roleIndex(_ key: String?) -> Int? {
            guard let key else { return roles.isEmpty ? nil : roles.count - 1 }
            return roles.firstIndex { $0.key == key }
        }
        // Rows without a roster row resolve their attributes from the file alone: a file has few combinations.
        let attributeColumns = columns.attributes.sorted { $0.key < $1.key }
        var resolvedForNewRows: [[String?]: (given: [String: String], resolved: [String: String]?)] = [:]
        var reports: [ImportRowReport] = []
        reports.reserveCapacity(table.records.count)
        var candidates: [Candidate?] = []   // by report index
        candidates.reserveCapacity(table.records.count)
        var externalIDs: [ExternalIDs?] = []   // by report index, nil where `candidates` is
        externalIDs.reserveCapacity(table.records.count)
        var emailsSeen = Set<String>()
        emailsSeen.reserveCapacity(table.records.count)
        for record in table.records {
            let cells = record.cells
            let values = attributeColumns.map { cell(cells, $0.value) }
            let known = resolvedForNewRows[values]
            var given = known?.given ?? [:]
            if known == nil {
                for (column, value) in zip(attributeColumns, values) { if let value { given[column.key] = value } }
            }
            let rawEmail = cell(cells, columns.email)
            let roleKey = cell(cells, columns.role)
            let externalID = cell(cells, columns.externalID)
            reports.append(ImportRowReport(line: record.line, email: rawEmail ?? "", name: cell(cells, columns.name), role: roleKey,
                                           externalID: externalID, attributes: given, outcome: .failed, updated: false,
                                           previousExternalID: nil, reason: nil))
            candidates.append(nil)
            externalIDs.append(nil)
            let index = reports.count - 1
            guard let rawEmail else { reports[index].reason = .missingEmail; continue }
            guard let email = EmailAddress(rawEmail)?.value else { reports[index].reason = .invalidEmail; continue }
            reports[index].email = email
            guard emailsSeen.insert(email).inserted else { reports[index].reason = .duplicateEmailInFile; continue }
            // The API's rules for these fields: a name as an account's, external IDs up to a length.
            if let name = reports[index].name, case .failure = AccountRules.name(name) { reports[index].reason = .invalidName; continue }
            if let externalID, externalID.utf8.count > maximumExternalIDLength, externalID.count > maximumExternalIDLength {
                reports[index].reason = .invalidExternalID; continue
            }
            let currentIndex = existing.isEmpty ? nil : existing[email]
            var role: Int? = nil
            if currentIndex == nil || rows[currentIndex!].source == .joinRequest {
                // Meeting a join request activates it: only a reviewer of requests may (as with a single invitation).
                if currentIndex != nil && !mayReview { reports[index].reason = .joinRequestPending; continue }
                guard let resolved = roleIndex(roleKey) else { reports[index].reason = .unknownRole; continue }
                guard grantable[resolved] else { reports[index].reason = .roleNotAllowed; continue }
                role = resolved
            } else if roleKey != nil, roleIndex(roleKey) == nil {
                reports[index].reason = .unknownRole; continue
            }
            var newRole: Int? = nil
            if context.sync != nil, let currentIndex, rows[currentIndex].source != .joinRequest, let roleKey, roleKey != rows[currentIndex].roleKey {
                // The file is the truth for roles too, under the rank rules: the importer outranks the member's role
                // and the new one; an owner's role is never changed by an import (the last-owner rule stays whole).
                let current = rows[currentIndex].roleKey
                guard !(context.ladder.ladder == .org && current == DefaultRoles.ownerKey),
                      let from = roleIndex(current), grantable[from], let to = roleIndex(roleKey), grantable[to],
                      context.authority.permissions.contains(rows[currentIndex].status == .active ? .membersSetRole : .membersInvite) else {
                    reports[index].reason = .roleNotAllowed; continue
                }
                newRole = to
            }
            let attributes: [String: String]?
            if let currentIndex {
                attributes = try? AttributeDefinition.resolve(given, current: rows[currentIndex].attributes, definitions: context.definitions)
            } else if let known {
                attributes = known.resolved
            } else {
                attributes = try? AttributeDefinition.resolve(given, definitions: context.definitions)
                resolvedForNewRows[values] = (given, attributes)
            }
            guard let attributes else { reports[index].reason = .invalidAttribute; continue }
            let kept = currentIndex.flatMap { rosterIDs[$0] }
            let claim = number(externalID)
            // Changing a member's external ID or attributes needs the authority a single update needs: the importer
            // outranks the member's role (decided here, before the external IDs, so a refused row frees nothing).
            if let currentIndex, rows[currentIndex].source != .joinRequest,
               (claim != nil && claim != kept) || attributes != rows[currentIndex].attributes,
               !(roleIndex(rows[currentIndex].roleKey).map { grantable[$0] } ?? false) {
                reports[index].reason = .notPermitted; continue
            }
            candidates[index] = Candidate(email: email, existing: currentIndex, role: role, attributes: attributes, newRole: newRole)
            externalIDs[index] = ExternalIDs(claim: claim, desired: claim ?? kept, kept: kept)
        }

        // Pass 2: external IDs, to a fixed point. A claim stands when no other row keeps or claims the same ID.
        var claimed = [Bool](repeating: false, count: idNumbers.count)
        for index in externalIDs.indices {
            guard let id = externalIDs[index]?.claim else { continue }
            if claimed[id] {
                reports[index].reason = .duplicateExternalIDInFile
                candidates[index] = nil
                externalIDs[index] = nil
            } else {
                claimed[id] = true
            }
        }
        // Who is who: a candidate and the roster row with its email are one holder (numbered by that row's first
        // index); a candidate without one is numbered after the roster. For each roster row, the candidate (if any)
        // that names its email: that row's ID is then decided by the file.
        let rosterHolder = rows.map { existing[$0.email]! }
        let holder = candidates.indices.map { index in candidates[index].map { $0.existing ?? rows.count + index } }
        var candidateOfHolder = [Int?](repeating: nil, count: rows.count)
        for index in candidates.indices { if let row = candidates[index]?.existing { candidateOfHolder[row] = index } }
        let rosterRowCandidate = rosterHolder.map { candidateOfHolder[$0] }
        var rejected = [Bool](repeating: false, count: candidates.count)
        while true {
            // Who holds each ID at the end: accepted file rows with their desired value, everyone else their current one.
            var holders = [Holders](repeating: .none, count: idNumbers.count)
            for index in externalIDs.indices {
                guard let ids = externalIDs[index], let id = rejected[index] ? ids.kept : ids.desired else { continue }
                holders[id].add(holder[index]!)
            }
            for index in rows.indices where rosterRowCandidate[index].map({ rejected[$0] }) ?? true {
                if let id = rosterIDs[index] { holders[id].add(rosterHolder[index]) }
            }
            var newlyRejected = false
            for index in externalIDs.indices where !rejected[index] {
                guard let ids = externalIDs[index], let id = ids.claim, id != ids.kept else { continue }
                if holders[id].includesOtherThan(holder[index]!) {
                    rejected[index] = true
                    newlyRejected = true
                }
            }
            if !newlyRejected { break }
        }
        for index in candidates.indices where rejected[index] {
            reports[index].reason = .externalIDTaken
            candidates[index] = nil
        }

        // Pass 3: outcomes, seats, and the plan.
        var idStrings = [String](repeating: "", count: idNumbers.count)
        for (id, number) in idNumbers { idStrings[number] = id }
        idNumbers = [:]
        var plan = ImportPlan()
        if let sync = context.sync {
            plan.sync = Self.syncEndings(rows: rows, listed: emailsSeen, sync: sync, context: context, grantable: grantable)
        }
        // A sync's endings free their seats for the file's new rows.
        var seatsLeft = context.seatLimit.map { $0 - rows.count + (plan.sync?.ending ?? 0) } ?? Int.max
        for index in candidates.indices {
            guard let c = candidates[index].take(), let ids = externalIDs[index] else { continue }
            let desired = ids.desired.map { idStrings[$0] }
            let current = c.existing.map { rows[$0] }
            let externalChanged = ids.desired != ids.kept
            if let current, current.source != .joinRequest {
                let newRole = c.newRole.map { roles[$0].key }
                if externalChanged || c.attributes != current.attributes || newRole != nil {
                    reports[index].updated = true
                    if externalChanged { reports[index].previousExternalID = current.externalID }
                    plan.changes.append(.init(id: current.id, line: reports[index].line, externalID: desired, attributes: c.attributes, activateWithRole: nil,
                                              roleKey: newRole, previousRoleKey: newRole.map { _ in current.roleKey }, email: current.email))
                }
                if current.status == .active {
                    reports[index].outcome = .alreadyMember
                } else {
                    reports[index].outcome = current.deliveryFailedPermanently ? .failedToSend : .alreadyInvited
                }
                reports[index].role = newRole ?? current.roleKey
                reports[index].externalID = desired
                reports[index].attributes = c.attributes
            } else if let current, let role = c.role.map({ roles[$0].key }) {
                // A pending join request met by the import: both sides consented.
                reports[index].outcome = .added
                reports[index].role = role
                reports[index].externalID = desired
                reports[index].attributes = c.attributes
                if externalChanged { reports[index].previousExternalID = current.externalID }
                plan.changes.append(.init(id: current.id, line: reports[index].line, externalID: desired, attributes: c.attributes, activateWithRole: role,
                                          email: current.email))
            } else if let role = c.role.map({ roles[$0].key }) {
                guard seatsLeft > 0 else {
                    reports[index].reason = .seatLimit
                    continue
                }
                seatsLeft -= 1
                let active = context.directAdd && context.verifiedAccounts.contains(c.email)
                reports[index].outcome = active ? .added : .invited
                reports[index].role = role
                reports[index].attributes = c.attributes
                plan.newRows.append(.init(line: reports[index].line, email: c.email, name: reports[index].name, roleKey: role,
                                          externalID: desired, attributes: c.attributes, active: active))
            }
            reports[index].reason = nil
        }
        return (plan, reports)
    }

    /// A sync's endings: the live rows whose email the file does not list end, unless they are an owner's, the
    /// importer's own, a pending join request (the requester asked; a file cannot answer), or beyond the importer's
    /// reach (a role it does not outrank, or no `members.remove` / `members.invite` for an active row / invitation).
    static func syncEndings(rows: [RosterSnapshotRow], listed: Set<String>, sync: SyncOptions, context: ImportContext, grantable: [Bool]) -> SyncOutcome {
        var outcome = SyncOutcome(live: rows.count, changeThreshold: sync.changeThreshold, exceeded: false)
        let roles = context.ladder.roles
        for row in rows where !listed.contains(row.email) {
            var entry = SyncRow(id: row.id, email: row.email, role: row.roleKey, status: row.status, externalID: row.externalID, reason: "not_in_file")
            let permission: Permission = row.status == .active ? .membersRemove : .membersInvite
            if row.source == .joinRequest {
                entry.reason = "join_request"
            } else if context.ladder.ladder == .org && row.roleKey == DefaultRoles.ownerKey {
                entry.reason = "owner"
            } else if let importer = sync.importerAccountID, row.accountID == importer {
                entry.reason = "importer"
            } else if !(roles.firstIndex { $0.key == row.roleKey }.map { grantable[$0] } ?? false) || !context.authority.permissions.contains(permission) {
                entry.reason = "not_permitted"
            }
            if entry.reason != "not_in_file" {
                outcome.kept.append(entry)
            } else if row.status == .active {
                outcome.removed.append(entry)
            } else {
                outcome.revoked.append(entry)
            }
        }
        outcome.exceeded = outcome.ending * 100 > sync.changeThreshold * max(rows.count, 1)
        return outcome
    }

    /// The longest external ID, in characters (as through the API).
    public static let maximumExternalIDLength = 200

    /// The holders of one external ID (by holder number), as far as the planner needs to know: none, one, or several.
    private enum Holders {
        case none, one(Int), several

        mutating func add(_ holder: Int) {
            switch self {
            case .none: self = .one(holder)
            case .one(let held) where held != holder: self = .several
            case .one, .several: break
            }
        }

        /// Whether someone other than `holder` holds the ID.
        func includesOtherThan(_ holder: Int) -> Bool {
            switch self {
            case .none: false
            case .one(let held): held != holder
            case .several: true
            }
        }
    }
}

/// The summary of a report.
public struct ImportSummary: Sendable, Equatable, Codable {
    public var rows = 0, invited = 0, added = 0, alreadyInvited = 0, alreadyMember = 0, updated = 0, failed = 0, failedToSend = 0

    enum CodingKeys: String, CodingKey {
        case rows, invited, added, updated, failed
        case alreadyInvited = "already_invited", alreadyMember = "already_member", failedToSend = "failed_to_send"
    }

    public init(_ reports: [ImportRowReport]) {
        rows = reports.count
        for r in reports {
            switch r.outcome {
            case .invited: invited += 1
            case .added: added += 1
            case .alreadyInvited: alreadyInvited += 1
            case .alreadyMember: alreadyMember += 1
            case .failed: failed += 1
            case .failedToSend: failedToSend += 1
            }
            if r.updated { updated += 1 }
        }
    }
}

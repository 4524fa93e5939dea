import Foundation

/// The outcome of one import row (DESIGN §4).
public enum ImportOutcome: String, Codable, Sendable {
    case invited, added, alreadyInvited = "already_invited", alreadyMember = "already_member", failed, failedToSend = "failed_to_send"
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

    public init(id: UUID, email: String, status: MembershipStatus, source: MembershipSource, roleKey: String, name: String?,
                externalID: String?, attributes: [String: String], deliveryFailedPermanently: Bool) {
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

    public init(rows: [RosterSnapshotRow], ladder: RoleLadder, authority: Authority, definitions: [AttributeDefinition],
                directAdd: Bool, verifiedAccounts: Set<String>, seatLimit: Int?) {
        self.rows = rows
        self.ladder = ladder
        self.authority = authority
        self.definitions = definitions
        self.directAdd = directAdd
        self.verifiedAccounts = verifiedAccounts
        self.seatLimit = seatLimit
    }
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
    public var reason: String?

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
    }

    public var newRows: [NewRow] = []
    public var changes: [Change] = []
}

/// The import planner: a pure function from a file and a roster snapshot to a plan and a report (DESIGN §4, §7).
public enum ImportPlanner {
    /// Plans `table` against `context`. Order does not matter: external IDs freed by any row can be claimed by any
    /// other, and swaps succeed.
    public static func plan(_ table: CSVTable, columns: ImportColumns, context: ImportContext) -> (ImportPlan, [ImportRowReport]) {
        func cell(_ cells: [String], _ index: Int?) -> String? {
            guard let index, index < cells.count else { return nil }
            let value = cells[index]
            return value.isEmpty ? nil : value
        }
        // Roster rows by email (the first, should there be two), as indices: candidates refer to rows rather than copy them.
        var existing: [String: Int] = [:]
        existing.reserveCapacity(context.rows.count)
        for (index, row) in context.rows.enumerated() where existing[row.email] == nil { existing[row.email] = index }

        // Pass 1: per-row validation, independent of other rows.
        struct Candidate {
            var report: ImportRowReport
            var email: String
            /// Index of the roster row with this email.
            var existing: Int?
            var role: RoleDefinition?
            var desiredExternalID: String?
            var attributes: [String: String]
        }
        var reports: [ImportRowReport] = []
        reports.reserveCapacity(table.records.count)
        var candidates: [Candidate?] = []   // by report index
        candidates.reserveCapacity(table.records.count)
        var emailsSeen = Set<String>()
        emailsSeen.reserveCapacity(table.records.count)
        let attributeColumns = columns.attributes.sorted { $0.key < $1.key }
        for record in table.records {
            let cells = record.cells
            let rawEmail = cell(cells, columns.email)
            let name = cell(cells, columns.name)
            let roleKey = cell(cells, columns.role)
            let externalID = cell(cells, columns.externalID)
            var given: [String: String] = [:]
            for (key, index) in attributeColumns { if let value = cell(cells, index) { given[key] = value } }
            var report = ImportRowReport(line: record.line, email: rawEmail ?? "", name: name, role: roleKey, externalID: externalID,
                                         attributes: given, outcome: .failed, updated: false, previousExternalID: nil, reason: nil)
            func fail(_ reason: String) { report.reason = reason; reports.append(report); candidates.append(nil) }
            guard let rawEmail else { fail("missing_email"); continue }
            guard let email = EmailAddress(rawEmail)?.value else { fail("invalid_email"); continue }
            report.email = email
            guard emailsSeen.insert(email).inserted else { fail("duplicate_email_in_file"); continue }
            let currentIndex = existing[email]
            let current = currentIndex.map { context.rows[$0] }
            var role: RoleDefinition? = nil
            if current == nil || current?.source == .joinRequest {
                guard let resolved = try? context.ladder.roleOrDefault(roleKey) else { fail("unknown_role"); continue }
                guard context.authority.outranks(resolved) else { fail("role_not_allowed"); continue }
                role = resolved
            } else if let roleKey, context.ladder.role(roleKey) == nil {
                fail("unknown_role"); continue
            }
            guard let attributes = try? AttributeDefinition.resolve(given, current: current?.attributes ?? [:], definitions: context.definitions) else {
                fail("invalid_attribute"); continue
            }
            candidates.append(Candidate(report: report, email: email, existing: currentIndex, role: role,
                                        desiredExternalID: externalID ?? current?.externalID, attributes: attributes))
            reports.append(report)
        }

        // Pass 2: external IDs, to a fixed point. A claim stands when no other row keeps or claims the same ID.
        var claimed = Set<String>()
        for index in candidates.indices {
            guard let id = candidates[index]?.report.externalID else { continue }
            if !claimed.insert(id).inserted {
                reports[index].reason = "duplicate_external_id_in_file"
                candidates[index] = nil
            }
        }
        // The fields this pass reads, by candidate (nil email: no longer a candidate), and for each roster row the
        // candidate (if any) that names its email: that row's ID is then decided by the file.
        let emails = candidates.map { $0?.email }
        let claims = candidates.map { $0?.report.externalID }
        let desired = candidates.map { $0?.desiredExternalID }
        let kept = candidates.map { $0?.existing.flatMap { context.rows[$0].externalID } }
        var candidateForEmail: [String: Int] = [:]
        candidateForEmail.reserveCapacity(candidates.count)
        for (index, email) in emails.enumerated() { if let email { candidateForEmail[email] = index } }
        let rosterRowCandidate = context.rows.map { candidateForEmail[$0.email] }
        candidateForEmail = [:]
        var rejected = [Bool](repeating: false, count: candidates.count)
        while true {
            // Who holds each ID at the end: accepted file rows with their desired value, everyone else their current one.
            var holders: [String: Holders] = [:]
            holders.reserveCapacity(candidates.count + context.rows.count)
            for (index, email) in emails.enumerated() {
                guard let email, let id = rejected[index] ? kept[index] : desired[index] else { continue }
                holders[id, default: .none].add(email)
            }
            for index in context.rows.indices where rosterRowCandidate[index].map({ rejected[$0] }) ?? true {
                if let id = context.rows[index].externalID { holders[id, default: .none].add(context.rows[index].email) }
            }
            var newlyRejected = false
            for (index, email) in emails.enumerated() where !rejected[index] {
                guard let email, let id = claims[index], id != kept[index] else { continue }
                if holders[id]?.includesOtherThan(email) ?? false {
                    rejected[index] = true
                    newlyRejected = true
                }
            }
            if !newlyRejected { break }
        }
        for index in candidates.indices where rejected[index] {
            reports[index].reason = "external_id_taken"
            candidates[index] = nil
        }

        // Pass 3: outcomes, seats, and the plan.
        var plan = ImportPlan()
        var seatsLeft = context.seatLimit.map { $0 - context.rows.count } ?? Int.max
        for index in candidates.indices {
            guard let c = candidates[index] else { continue }
            candidates[index] = nil
            var report = c.report
            let current = c.existing.map { context.rows[$0] }
            let externalChanged = c.desiredExternalID != current?.externalID
            if let current, current.source != .joinRequest {
                let attributesChanged = c.attributes != current.attributes
                if externalChanged || attributesChanged {
                    report.updated = true
                    if externalChanged { report.previousExternalID = current.externalID }
                    plan.changes.append(.init(id: current.id, line: report.line, externalID: c.desiredExternalID, attributes: c.attributes, activateWithRole: nil))
                }
                if current.status == .active {
                    report.outcome = .alreadyMember
                } else {
                    report.outcome = current.deliveryFailedPermanently ? .failedToSend : .alreadyInvited
                }
                report.role = current.roleKey
                report.externalID = c.desiredExternalID
                report.attributes = c.attributes
            } else if let current, let role = c.role {
                // A pending join request met by the import: both sides consented.
                report.outcome = .added
                report.role = role.key
                report.externalID = c.desiredExternalID
                report.attributes = c.attributes
                if externalChanged { report.previousExternalID = current.externalID }
                plan.changes.append(.init(id: current.id, line: report.line, externalID: c.desiredExternalID, attributes: c.attributes, activateWithRole: role.key))
            } else if let role = c.role {
                guard seatsLeft > 0 else {
                    report.reason = "seat_limit"
                    reports[index] = report
                    continue
                }
                seatsLeft -= 1
                let active = context.directAdd && context.verifiedAccounts.contains(c.email)
                report.outcome = active ? .added : .invited
                report.role = role.key
                report.attributes = c.attributes
                plan.newRows.append(.init(line: report.line, email: c.email, name: report.name, roleKey: role.key,
                                          externalID: c.desiredExternalID, attributes: c.attributes, active: active))
            }
            report.reason = nil
            reports[index] = report
        }
        return (plan, reports)
    }

    /// The emails holding one external ID, as far as the planner needs to know: none, one, or several.
    private enum Holders {
        case none, one(String), several

        mutating func add(_ email: String) {
            switch self {
            case .none: self = .one(email)
            case .one(let held) where held != email: self = .several
            case .one, .several: break
            }
        }

        /// Whether someone other than `email` holds the ID.
        func includesOtherThan(_ email: String) -> Bool {
            switch self {
            case .none: false
            case .one(let held): held != email
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

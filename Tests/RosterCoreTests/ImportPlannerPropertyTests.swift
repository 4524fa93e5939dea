import Foundation
import PropertyBased
import Testing
@testable import RosterCore

/// Properties of the import planner over random rosters and random files (DESIGN §4): a small universe of emails
/// and external IDs makes collisions, swaps, freed IDs and duplicates common.
@Suite struct ImportPlannerPropertyTests {
    static let ladder = RoleLadder(.space, roles: DefaultRoles.space)
    static let definitions = [AttributeDefinition(key: "timeline", type: .enum, values: ["fixed", "fomo"], default: "fixed")]

    /// A live roster row: email number, external ID number, status (0 pending invitation, 1 active, 2 join request).
    static let rosterRows = zip(Gen.int(in: 0...7), Gen.int(in: 0...5).optional, Gen.int(in: 0...2)).array(of: 0...7)
    /// A file row: email number (nil: no email; 9: not an email), upper-cased or not, external ID, role, timeline.
    static let fileRows = zip(Gen.int(in: 0...9).optional(valueRate: 0.9), Gen.bool, Gen.int(in: 0...5).optional,
                              Gen.element(of: ["", "viewer", "editor", "wizard"])).array(of: 1...10)
    static let timelines = Gen.element(of: ["", "fixed", "fomo", "never"]).array(of: 10)

    /// The roster a generated description stands for: one row per email, no external ID held twice.
    static func roster(_ described: [(Int, Int?, Int)]) -> [RosterSnapshotRow] {
        var seenEmails = Set<Int>(), seenIDs = Set<Int>()
        return described.compactMap { email, external, status in
            guard seenEmails.insert(email).inserted else { return nil }
            let externalID = external.flatMap { seenIDs.insert($0).inserted ? "X\($0)" : nil }
            return RosterSnapshotRow(
                id: UUID(), email: "p\(email)@example.com", status: status == 1 ? .active : .pending,
                source: [MembershipSource.invitation, .direct, .joinRequest][status], roleKey: "viewer", name: nil,
                externalID: externalID, attributes: ["timeline": "fixed"], deliveryFailedPermanently: false)
        }
    }

    static func csv(_ described: [(Int?, Bool, Int?, String?)], timelines: [String?]) -> String {
        var text = "email,role,external_id,timeline\n"
        for (index, (email, upper, external, role)) in described.enumerated() {
            let address = email.map { $0 == 9 ? "not-an-email" : "p\($0)@example.com" } ?? ""
            text += "\(upper ? address.uppercased() : address),\(role ?? ""),\(external.map { "X\($0)" } ?? ""),\(timelines[index] ?? "")\n"
        }
        return text
    }

    static func plan(_ csv: String, against rows: [RosterSnapshotRow]) throws -> (ImportPlan, [ImportRowReport], CSVTable) {
        let table = try CSVTable.parse(Data(csv.utf8))
        let columns = try ImportColumns.resolve(header: table.header, attributeKeys: definitions.map(\.key))
        let context = ImportContext(rows: rows, ladder: ladder, authority: .platform, definitions: definitions,
                                    directAdd: false, verifiedAccounts: [], seatLimit: nil)
        let (plan, reports) = ImportPlanner.plan(table, columns: columns, context: context)
        return (plan, reports, table)
    }

    /// The roster after a plan is applied, as the store applies it.
    static func apply(_ plan: ImportPlan, to rows: [RosterSnapshotRow]) -> [RosterSnapshotRow] {
        var result = rows
        for change in plan.changes {
            let index = result.firstIndex { $0.id == change.id }!
            result[index].externalID = change.externalID
            result[index].attributes = change.attributes
            if let role = change.activateWithRole { result[index].status = .active; result[index].roleKey = role; result[index].source = .direct }
        }
        for new in plan.newRows {
            result.append(RosterSnapshotRow(id: UUID(), email: new.email, status: new.active ? .active : .pending,
                                            source: new.active ? .direct : .invitation, roleKey: new.roleKey, name: new.name,
                                            externalID: new.externalID, attributes: new.attributes, deliveryFailedPermanently: false))
        }
        return result
    }

    /// `GET …/members.csv` of a roster (join requests are not part of it).
    static func export(_ rows: [RosterSnapshotRow]) -> String {
        var text = "email,name,role,external_id,timeline,status\n"
        for row in rows where row.source != .joinRequest {
            text += [row.email, row.name ?? "", row.roleKey, row.externalID ?? "", row.attributes["timeline"] ?? "", row.status.rawValue]
                .map(CSVTable.cell).joined(separator: ",") + "\n"
        }
        return text
    }

    @Test func everyLineGetsExactlyOneOutcomeAndTheResultKeepsTheInvariants() async throws {
        await propertyCheck(count: 300, input: Self.rosterRows, Self.fileRows, Self.timelines) { described, file, timelines in
            let rows = Self.roster(described)
            let csv = Self.csv(file, timelines: timelines)
            let (plan, reports, table) = try Self.plan(csv, against: rows)
            #expect(reports.map(\.line) == table.records.map(\.line), "one outcome per line, in file order")
            #expect(reports.allSatisfy { ($0.outcome == .failed) == ($0.reason != nil) }, "a reason exactly when a row failed")

            let after = Self.apply(plan, to: rows)
            let live = after.filter { $0.status.isLive }
            #expect(Set(live.map(\.email)).count == live.count, "no email twice among live rows")
            let ids = live.compactMap(\.externalID)
            #expect(Set(ids).count == ids.count, "no external ID twice among live rows")
        }
    }

    @Test func applyingTheSameFileTwiceChangesNothingTheSecondTime() async throws {
        await propertyCheck(count: 300, input: Self.rosterRows, Self.fileRows, Self.timelines) { described, file, timelines in
            let csv = Self.csv(file, timelines: timelines)
            let rows = Self.roster(described)
            let (first, _, _) = try Self.plan(csv, against: rows)
            let after = Self.apply(first, to: rows)
            let (second, reports, _) = try Self.plan(csv, against: after)
            #expect(second == ImportPlan(), "the second run plans no writes")
            #expect(!reports.contains { $0.outcome == .invited || $0.outcome == .added || $0.updated })
        }
    }

    @Test func importingAnExportChangesNothing() async throws {
        await propertyCheck(count: 300, input: Self.rosterRows, Self.fileRows, Self.timelines) { described, file, timelines in
            let rows = Self.roster(described)
            let (plan, _, _) = try Self.plan(Self.csv(file, timelines: timelines), against: rows)
            let roster = Self.apply(plan, to: rows)
            guard roster.contains(where: { $0.source != .joinRequest }) else { return }
            let (again, reports, _) = try Self.plan(Self.export(roster), against: roster)
            #expect(again == ImportPlan())
            #expect(reports.allSatisfy { $0.outcome == .alreadyMember || $0.outcome == .alreadyInvited })
        }
    }
}

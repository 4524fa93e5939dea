import Foundation
import Testing
@testable import RosterCore

@Suite struct CSVTableTests {
    @Test func quotingBOMCRLFAndBlankLines() throws {
        let text = "\u{FEFF}Email,Name,External ID\r\n\r\nada@example.com,\"Lovelace, Ada\",A1\r\n\"bob@example.com\",\"Bob \"\"the\"\" Builder\nSecond line\",\r\n  cy@example.com , Cy ,  \n"
        let table = try CSVTable.parse(Data(text.utf8))
        #expect(table.header == ["Email", "Name", "External ID"])
        #expect(table.records.map(\.line) == [3, 4, 6])
        #expect(table.records[0].cells == ["ada@example.com", "Lovelace, Ada", "A1"])
        #expect(table.records[1].cells == ["bob@example.com", "Bob \"the\" Builder\nSecond line", ""])
        #expect(table.records[2].cells == ["cy@example.com", "Cy", ""])
    }

    @Test func wholeFileProblems() {
        let utf16 = "email\nada@example.com\n".data(using: .utf16)!
        #expect(throws: ImportFileError.self) { try CSVTable.parse(utf16) }
        let quoting = #expect(throws: ImportFileError.self) { try CSVTable.parse(Data("email\n\"open,cell\n".utf8)) }
        #expect(quoting?.issues.first?.code == "malformed_quoting")
        let empty = #expect(throws: ImportFileError.self) { try CSVTable.parse(Data()) }
        #expect(empty?.issues.first?.code == "empty_file")
        // A NUL character, once per line it appears on (here twice on line 3, inside quotes).
        let nul = #expect(throws: ImportFileError.self) {
            try CSVTable.parse(Data("email,name\na@example.com,x\u{0}y\nb@example.com,\"two\u{0}\u{0}\"\nc@example.com,fine\n".utf8))
        }
        #expect(nul?.issues.map(\.code) == ["nul_character", "nul_character"] && nul?.issues.map(\.line) == [2, 3])
        // A file of stray quotes: one problem per line, at most 100 listed, the rest counted, so the refusal stays small.
        let strays = #expect(throws: ImportFileError.self) {
            try CSVTable.parse(Data(("email\n" + String(repeating: "a\"\"\"\"\"\"\"\"\"\"\n", count: 5_000)).utf8))
        }
        #expect(strays?.issues.count == ImportFileError.maximumIssues + 1)
        #expect(strays?.issues.prefix(3).map(\.line) == [2, 3, 4])
        #expect(strays?.issues.last?.code == "more_problems" && strays?.issues.last?.message.contains("4900 more") == true)
        // Parsing stops past the row limit, whatever follows.
        let long = #expect(throws: ImportFileError.self) {
            try CSVTable.parse(Data(("email\n" + String(repeating: "a@example.com\n", count: 50) + "\"broken\n").utf8), maximumRecords: 10)
        }
        #expect(long?.issues.map(\.code) == ["too_many_rows"])
    }

    @Test func columnsByNameWithAliasesAndEveryProblemListed() throws {
        let columns = try ImportColumns.resolve(header: ["Role", "EMAIL", "ext_id", "timeline", "status"], attributeKeys: ["timeline"])
        #expect(columns.email == 1 && columns.role == 0 && columns.externalID == 2 && columns.attributes == ["timeline": 3])
        let bad = #expect(throws: ImportFileError.self) { try ImportColumns.resolve(header: ["name", "name", "colour", "shoe"], attributeKeys: []) }
        #expect(bad?.issues.map(\.code) == ["duplicate_column", "unknown_column", "unknown_column", "missing_email_column"])
    }
}

@Suite struct ImportPlannerTests {
    let ladder = RoleLadder(.org, roles: DefaultRoles.org)

    func row(_ email: String, _ external: String?, status: MembershipStatus = .active, source: MembershipSource = .direct) -> RosterSnapshotRow {
        RosterSnapshotRow(id: UUID(), email: email, status: status, source: source, roleKey: "member", name: nil, externalID: external,
                          attributes: [:], deliveryFailedPermanently: false)
    }

    func plan(_ csv: String, rows: [RosterSnapshotRow] = [], authority: Authority? = nil, seatLimit: Int? = nil) throws -> (ImportPlan, [ImportRowReport]) {
        let table = try CSVTable.parse(Data(csv.utf8))
        let columns = try ImportColumns.resolve(header: table.header, attributeKeys: [])
        let context = ImportContext(rows: rows, ladder: ladder, authority: authority ?? .onOrganization(role: ladder.role("owner")),
                                    definitions: [], directAdd: false, verifiedAccounts: [], seatLimit: seatLimit)
        return ImportPlanner.plan(table, columns: columns, context: context)
    }

    @Test func reasonCodes() throws {
        let admin = Authority.onOrganization(role: ladder.role("admin"))
        let (_, reports) = try plan("""
        email,name,role,external_id
        ,Nobody,,
        not-an-email,,,
        a@example.com,,,A
        A@Example.com,,,
        b@example.com,,,A
        c@example.com,,wizard,
        d@example.com,,admin,
        e@example.com,,,
        f@example.com,"Two\nlines",,
        g@example.com,\(String(repeating: "n", count: 201)),,
        h@example.com,\(String(repeating: "n", count: 200)),,\(String(repeating: "x", count: 201))
        i@example.com,,,\(String(repeating: "x", count: 200))
        """, authority: admin)
        #expect(reports.map { $0.reason?.rawValue ?? $0.outcome.rawValue } == [
            "missing_email", "invalid_email", "invited", "duplicate_email_in_file", "duplicate_external_id_in_file",
            "unknown_role", "role_not_allowed", "invited", "invalid_name", "invalid_name", "invalid_external_id", "invited",
        ])
        #expect(reports.map(\.line) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14])
    }

    @Test(arguments: [false, true])
    func swapsAndFreedIDsWorkInEitherOrder(reversed: Bool) throws {
        let rows = [row("a@example.com", "X"), row("b@example.com", "Y"), row("c@example.com", "Z", status: .pending, source: .invitation)]
        var lines = ["a@example.com,Y", "b@example.com,X", "c@example.com,W", "d@example.com,Z"]
        if reversed { lines.reverse() }
        let (plan, reports) = try plan("email,external_id\n" + lines.joined(separator: "\n"), rows: rows)
        #expect(reports.allSatisfy { $0.reason == nil })
        let byEmail = Dictionary(uniqueKeysWithValues: reports.map { ($0.email, $0) })
        #expect(byEmail["a@example.com"]?.previousExternalID == "X")
        #expect(byEmail["a@example.com"]?.outcome == .alreadyMember && byEmail["a@example.com"]?.updated == true)
        #expect(byEmail["c@example.com"]?.outcome == .alreadyInvited)
        #expect(byEmail["d@example.com"]?.outcome == .invited && byEmail["d@example.com"]?.externalID == "Z")
        #expect(plan.changes.count == 3 && plan.newRows.count == 1)
    }

    @Test func anIDKeptBySomeoneElseIsTaken() throws {
        let rows = [row("a@example.com", "X"), row("b@example.com", "Y")]
        // b keeps Y (blank cell), so a cannot take it; c cannot take X because a's claim failed and a keeps X.
        let (_, reports) = try plan("email,external_id\na@example.com,Y\nb@example.com,\nc@example.com,X", rows: rows)
        #expect(reports.map { $0.reason?.rawValue ?? $0.outcome.rawValue } == ["external_id_taken", "already_member", "external_id_taken"])
    }

    @Test func reimportingChangesNothingAndSeatsAreCounted() throws {
        let rows = [row("a@example.com", "X")]
        let (plan1, reports) = try plan("email,name,role,external_id\na@example.com,Renamed,admin,", rows: rows)
        #expect(plan1 == ImportPlan())
        #expect(reports.first?.outcome == .alreadyMember && reports.first?.role == "member")
        let (plan2, seats) = try plan("email\nb@example.com\nc@example.com", rows: rows, seatLimit: 2)
        #expect(seats.map { $0.reason?.rawValue ?? $0.outcome.rawValue } == ["invited", "seat_limit"])
        #expect(plan2.newRows.count == 1)
        #expect(ImportSummary(seats) == { var s = ImportSummary([]); s.rows = 2; s.invited = 1; s.failed = 1; return s }())
    }
}

@Suite struct CSVEncodingTests {
    @Test func aFileThatIsNotUTF8SaysWhere() throws {
        var bytes = Array("email,name\na@example.com,Ann\nb@example.com,Ren".utf8)
        bytes += [0xE9]   // Latin-1 "é"
        bytes += Array("e\n".utf8)
        #expect(throws: ImportFileError([ImportFileIssue(line: 3, code: "not_utf8", message:
            "The file is not valid UTF-8: line 3, byte 18 of the line is 0xE9. Save it as UTF-8 (CSV UTF-8) and upload it again.")])) {
            try CSVTable.parse(Data(bytes))
        }
        #expect(CSVTable.firstInvalidUTF8(Array("naïve ✓".utf8)) == nil)
        #expect(CSVTable.firstInvalidUTF8([0x61, 0xC3]) == 1, "a sequence cut short")
    }
}

@Suite struct AttributeDefinitionTests {
    @Test func trueAndFalseBelongToBooleanAttributes() {
        let issues = AttributeDefinition.issues([AttributeDefinition(key: "answer", type: .enum, values: ["True", "maybe"])])
        #expect(issues.map(\.field) == ["attributes[0].values"])
        #expect(AttributeDefinition.issues([AttributeDefinition(key: "ok", type: .boolean, default: "yes")]).isEmpty)
    }

    @Test func aBooleanDefaultIsAJSONBoolean() throws {
        let definition = AttributeDefinition(key: "ok", type: .boolean, default: "true")
        let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        #expect(json.contains(#""default":true"#))
        #expect(try JSONDecoder().decode(AttributeDefinition.self, from: Data(json.utf8)) == definition)
        let old = try JSONDecoder().decode(AttributeDefinition.self, from: Data(#"{"key":"ok","type":"boolean","default":"false"}"#.utf8))
        #expect(old.default == "false", "a definition stored by an earlier version")
        #expect(AttributeValue(text: "true") == .boolean(true) && AttributeValue(text: "fixed").text == "fixed")
    }
}

import Foundation
import Testing
import Vapor
import RosterStore
import RosterTesting

/// `POST {scope}/imports` and `GET {scope}/members.csv` end to end.
@Suite struct ImportAPITests {
    func upload(_ t: TestApp, _ path: String, _ csv: String, token: String, dryRun: Bool = false) async throws -> TestResponse {
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "csv")
        return try await t.send(.POST, path + (dryRun ? "?dry_run=true" : ""), token: token, body: Data(csv.utf8), headers: headers)
    }

    func outcomes(_ r: TestResponse) -> [String] {
        (r.json["rows"] as? [[String: Any]] ?? []).map { ($0["reason"] as? String) ?? ($0["outcome"] as? String ?? "?") }
    }

    @Test(arguments: TestBackend.available)
    func importPreviewApplyReimportAndExportRoundTrip(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: [
                "name": "Course", "attributes": [["key": "timeline", "type": "enum", "values": ["fixed", "fomo"], "default": "fixed"]],
            ], token: owner).string("id"))
            let csv = "\u{FEFF}Email,Name,Role,Student Number,timeline\r\nada@example.com,\"Lovelace, Ada\",editor,S1,fomo\r\nbob@example.com,Bob,,S2,\r\n,Nobody,,,\r\nbad,,,,\r\n"
            let fixed = csv.replacingOccurrences(of: "Student Number", with: "external id")

            let unknownColumn = try await upload(t, "/v1/spaces/\(space)/imports", csv, token: owner)
            #expect(unknownColumn.status == .unprocessableEntity)
            #expect(unknownColumn.code == "invalid_file")
            #expect(unknownColumn.text.contains("Student Number"))

            // The preview comes as a browser form would send it: multipart/form-data with the file in `file`.
            let boundary = "roster-test-boundary"
            let form = "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"course.csv\"\r\nContent-Type: text/csv\r\n\r\n"
                + fixed + "\r\n--\(boundary)--\r\n"
            var formHeaders = HTTPHeaders()
            formHeaders.contentType = HTTPMediaType(type: "multipart", subType: "form-data", parameters: ["boundary": boundary])
            let preview = try await t.send(.POST, "/v1/spaces/\(space)/imports?dry_run=true", token: owner, body: Data(form.utf8), headers: formHeaders)
            #expect(preview.status == .ok)
            #expect(preview.json["dry_run"] as? Bool == true)
            #expect(preview.json["id"] == nil, "a dry run stores nothing")
            #expect(outcomes(preview) == ["invited", "invited", "missing_email", "invalid_email"])
            #expect((try await t.send(.GET, "/v1/spaces/\(space)/members", token: owner).json["items"] as? [Any])?.isEmpty == true)

            let applied = try await upload(t, "/v1/spaces/\(space)/imports", fixed, token: owner)
            #expect(outcomes(applied) == ["invited", "invited", "missing_email", "invalid_email"])
            let summary = try #require(applied.json["summary"] as? [String: Int])
            #expect(summary["invited"] == 2 && summary["failed"] == 2 && summary["rows"] == 4)
            #expect(try await t.emails(to: "ada@example.com", kind: "invitation").count == 1)
            // The failed rows, as CSV to fix and upload again.
            let importID = try #require(applied.string("id"))
            let failures = try await t.send(.GET, "/v1/spaces/\(space)/imports/\(importID)/failures.csv", token: owner)
            #expect(failures.text == "line,email,reason\r\n4,,missing_email\r\n5,bad,invalid_email\r\n")
            // Fixed and uploaded again as it is: the line and reason columns are ignored.
            let fixedFailures = failures.text.replacingOccurrences(of: "5,bad,", with: "5,eve@example.com,")
            let reimported = try await upload(t, "/v1/spaces/\(space)/imports", fixedFailures, token: owner)
            #expect(outcomes(reimported) == ["missing_email", "invited"])
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/imports/\(importID)/failures.csv", token: owner).status == .notFound)
            let members = try await t.send(.GET, "/v1/spaces/\(space)/members", token: owner)
            let ada = try #require((members.json["items"] as? [[String: Any]])?.first { $0["email"] as? String == "ada@example.com" })
            #expect(ada["role"] as? String == "editor" && ada["external_id"] as? String == "S1" && ada["name"] as? String == "Lovelace, Ada")
            #expect((ada["attributes"] as? [String: String]) == ["timeline": "fomo"])

            // Re-import: nothing changes, nothing is resent.
            let again = try await upload(t, "/v1/spaces/\(space)/imports", fixed, token: owner)
            #expect(outcomes(again) == ["already_invited", "already_invited", "missing_email", "invalid_email"])
            #expect(try await t.emails(to: "ada@example.com", kind: "invitation").count == 1)

            // A swap of external IDs.
            let swap = try await upload(t, "/v1/spaces/\(space)/imports", "email,external_id\nada@example.com,S2\nbob@example.com,S1\n", token: owner)
            #expect(outcomes(swap) == ["already_invited", "already_invited"])
            #expect((swap.json["rows"] as? [[String: Any]])?.first?["previous_external_id"] as? String == "S1")

            // Export, then import the export: nothing changes.
            let export = try await t.send(.GET, "/v1/spaces/\(space)/members.csv", token: owner)
            #expect(export.status == .ok)
            #expect(export.text.hasPrefix("email,name,role,external_id,timeline,status\r\n"))
            #expect(export.text.contains("ada@example.com,\"Lovelace, Ada\",editor,S2,fomo,pending"))
            let roundTrip = try await upload(t, "/v1/spaces/\(space)/imports", export.text, token: owner)
            let roundSummary = try #require(roundTrip.json["summary"] as? [String: Int])
            #expect(roundSummary["updated"] == 0 && roundSummary["already_invited"] == 3 && roundSummary["failed"] == 0)
        }
    }

    /// The bulk insert writes text into its statements as SQL literals: quotes, SQL, backslashes, NUL and non-ASCII
    /// text must come back exactly as uploaded.
    @Test(arguments: TestBackend.available)
    func importedTextIsStoredExactlyAsUploaded(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let names = ["O'Brien", "''", "x'); DROP TABLE memberships; --", "back\\slash \\'", "Zoë 😀 e\u{301}", "?", "NULL"]
            let rows = names.enumerated().map { index, name in
                "p\(index)@example.com,\"\(name.replacingOccurrences(of: "\"", with: "\"\""))\",\(name == "?" ? "'" : "id-'\(index)")"
            }
            let imported = try await upload(t, "/v1/orgs/\(org)/imports", "email,name,external_id\n" + rows.joined(separator: "\n"), token: owner)
            #expect(outcomes(imported) == Array(repeating: "invited", count: names.count))
            let members = try await t.send(.GET, "/v1/orgs/\(org)/members?limit=200", token: owner).json["items"] as? [[String: Any]] ?? []
            for (index, name) in names.enumerated() {
                let member = members.first { $0["email"] as? String == "p\(index)@example.com" }
                #expect(member?["name"] as? String == name)
                #expect(member?["external_id"] as? String == (name == "?" ? "'" : "id-'\(index)"))
            }
            // A NUL character is no text: the file is refused (PostgreSQL would refuse the row), and so is an external
            // ID holding one.
            let nul = try await upload(t, "/v1/orgs/\(org)/imports", "email,name\nnul@example.com,a\u{0}b\n", token: owner)
            #expect(nul.status == .unprocessableEntity && nul.code == "invalid_file" && nul.text.contains("nul_character"))
            let first = try #require(members.first?["id"] as? String)
            let patched = try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(first)", json: ["external_id": "a\u{0}b"], token: owner)
            #expect(patched.status == .unprocessableEntity && patched.text.contains("NUL"))
        }
    }

    /// An import leaves its rows to be indexed for search after it commits; searches are exact before, during and
    /// after the catch-up, including for rows changed while they waited.
    @Test(arguments: TestBackend.available)
    func importedRowsAreFoundWhileAndAfterTheSearchIndexCatchesUp(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            _ = try await t.invite(owner, org: org, email: "student-early@example.com", role: "member", externalID: "E1")
            let csv = "email,name,external_id\n" + (0..<25).map { "s\($0)@example.com,Student \($0),N\(1000 + $0)" }.joined(separator: "\n")
            #expect(try await upload(t, "/v1/orgs/\(org)/imports", csv, token: owner).status == .ok)
            let index = SearchIndex(t.app.db)
            let scope = try #require(UUID(uuidString: org))
            #expect(try await index.hasBacklog(scopeID: scope))

            func search(_ q: String) async throws -> [String] {
                let page = try await t.send(.GET, "/v1/orgs/\(org)/members?q=\(q)&limit=200", token: owner)
                return ((page.json["items"] as? [[String: Any]]) ?? []).compactMap { $0["email"] as? String }.sorted()
            }
            let studentOne = ["s1@example.com"] + (10..<20).map { "s\($0)@example.com" }
            #expect(try await search("student%201") == studentOne.sorted())
            #expect(try await search("student").count == 26)

            // A row changed before it is indexed, and one changed after its chunk was indexed but before the rest.
            func rename(_ email: String, to externalID: String) async throws {
                let id = try #require(((try await t.send(.GET, "/v1/orgs/\(org)/members?q=\(email)", token: owner)).json["items"] as? [[String: Any]])?.first?["id"] as? String)
                #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(id)", json: ["external_id": externalID], token: owner).status == .ok)
            }
            try await rename("s3@example.com", to: "Moved-3")
            #expect(try await index.catchUp(rows: 7))
            try await rename("s0@example.com", to: "Moved-0")
            try await index.catchUpAll()
            #expect(try await !index.hasBacklog(scopeID: scope))

            #expect(try await search("student%201") == studentOne.sorted())
            #expect(try await search("student").count == 26)
            #expect(try await search("moved-") == ["s0@example.com", "s3@example.com"])
            #expect(try await search("n1003") == [])
            #expect(try await search("n1000") == [])
            #expect(try await search("n1024") == ["s24@example.com"])
            #expect(try await !index.catchUp())
        }
    }

    @Test(arguments: TestBackend.available)
    func wholeFileProblemsAndPermissions(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["settings": ["add_policy": "direct"]], token: try await t.apiKey()).status == .ok)
            let member = try await t.addMember(owner: owner, org: org, email: "m@example.com")
            #expect(try await upload(t, "/v1/orgs/\(org)/imports", "email\na@example.com\n", token: member.token).code == "forbidden")
            for (csv, needle) in [("name\nAda\n", "missing_email_column"), ("email\n", "no_data_rows"), ("email,email\na@x.io,b@x.io\n", "duplicate_column"),
                                  ("email\n\"a@example.com\n", "malformed_quoting")] {
                let response = try await upload(t, "/v1/orgs/\(org)/imports", csv, token: owner)
                #expect(response.code == "invalid_file", "\(needle)")
                #expect(response.text.contains(needle))
            }
            let utf16 = try await t.send(.POST, "/v1/orgs/\(org)/imports", token: owner, body: "email\na@example.com\n".data(using: .utf16)!,
                                         headers: ["Content-Type": "text/csv"])
            #expect(utf16.text.contains("not_utf8"))
            // Direct policy: verified accounts are added, others invited.
            try await t.verifiedPerson("known@example.com")
            let report = try await upload(t, "/v1/orgs/\(org)/imports", "email,role\nknown@example.com,\nnew@example.com,\nx@example.com,owner\n", token: owner)
            #expect(outcomes(report) == ["added", "invited", "invited"])
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin")
            let limited = try await upload(t, "/v1/orgs/\(org)/imports", "email,role\ny@example.com,admin\n", token: admin.token)
            #expect(outcomes(limited) == ["role_not_allowed"])
        }
    }

    @Test(.enabled(if: TestBackend.available.contains(.postgres)))
    func theSameImportRunTwiceAtOnceLeavesOneConsistentRoster() async throws {
        try await TestApp.with(.postgres) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let csv = "email,external_id\n" + (0..<200).map { "p\($0)@example.com,E\($0)" }.joined(separator: "\n")
            async let a = upload(t, "/v1/orgs/\(org)/imports", csv, token: owner)
            async let b = upload(t, "/v1/orgs/\(org)/imports", csv, token: owner)
            let (first, second) = try await (a, b)
            #expect(first.status == .ok && second.status == .ok)
            let invited = [first, second].map { ($0.json["summary"] as? [String: Int])?["invited"] ?? -1 }.sorted()
            #expect(invited == [0, 200])
            let list = try await t.send(.GET, "/v1/orgs/\(org)/members?limit=200&status=pending", token: owner)
            #expect((list.json["items"] as? [Any])?.count == 200)
        }
    }

    /// Issue 13, point 4: under the consent policy an import, dry run or not, reports a row the same whether or not
    /// its email has an account (only `add_policy: direct`, set by the platform, adds existing accounts).
    @Test(arguments: TestBackend.available)
    func anImportNeverTellsWhetherAnEmailHasAnAccount(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            _ = try await t.verifiedPerson("known@example.com")
            let org = try await t.createOrg(owner)
            for dryRun in [true, false] {
                let report = try await upload(t, "/v1/orgs/\(org)/imports", "email,name\nknown@example.com,K\nunknown@example.com,K\n", token: owner, dryRun: dryRun)
                let rows = try #require(report.json["rows"] as? [[String: Any]])
                let shown = rows.map { row in
                    row.filter { $0.key != "email" && $0.key != "line" }.mapValues { String(describing: $0) }
                }
                #expect(rows.count == 2 && shown[0] == shown[1], "dry run: \(dryRun)")
                #expect(shown[0]["outcome"] == "invited")
            }
            let pending = try await t.send(.GET, "/v1/orgs/\(org)/members?status=pending", token: owner)
            let items = try #require(pending.json["items"] as? [[String: Any]])
            #expect(items.count == 2 && items.allSatisfy { $0["account_id"] is NSNull }, "an invitation names no account before it is accepted")
        }
    }
}

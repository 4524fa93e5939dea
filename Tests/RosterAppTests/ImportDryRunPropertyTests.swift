import Foundation
import Testing
import Vapor
import RosterTesting

/// DESIGN §4 through the real database: for random rosters and random files, what the dry run reports is what
/// applying the same file in the same state does, and the result keeps invariants 2–3.
@Suite struct ImportDryRunPropertyTests {
    /// A small seeded generator (SplitMix64), so a failing round can be replayed from its seed.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A CSV of `emails` with random external IDs from a small pool (so claims, frees, swaps and chains happen).
    static func file(_ emails: [String], _ random: inout Seeded, blankShare: Double = 0.3) -> String {
        var lines = ["email,external_id"]
        for email in emails.shuffled(using: &random) {
            let id = Double.random(in: 0..<1, using: &random) < blankShare ? "" : "X\(Int.random(in: 0..<6, using: &random))"
            lines.append("\(email),\(id)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report's rows without what differs between a dry run and an applied run.
    static func rows(_ response: TestResponse) -> [String] {
        ((response.json["rows"] as? [[String: Any]]) ?? []).map { row in
            ["line", "email", "outcome", "reason", "external_id", "previous_external_id", "updated"]
                .map { "\($0)=\(row[$0].map { "\($0)" } ?? "-")" }.joined(separator: " ")
        }
    }

    @Test(arguments: TestBackend.available)
    func theDryRunSaysWhatApplyingDoes(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let key = try await t.apiKey()
            let owner = try await t.verifiedPerson("owner@example.com")
            for round in 0..<12 {
                let seed = UInt64(round) &* 7919 &+ 17
                var random = Seeded(state: seed)
                let org = try await t.createOrg(owner, name: "Round \(round)")
                let people = (0..<8).map { "p\($0)@example.com" }
                func upload(_ csv: String, dryRun: Bool) async throws -> TestResponse {
                    try await t.send(.POST, "/v1/orgs/\(org)/imports?dry_run=\(dryRun)", token: key, body: Data(csv.utf8), headers: ["Content-Type": "text/csv"])
                }
                // A random roster: some of the people, each with a random external ID or none.
                let base = Self.file(Array(people.shuffled(using: &random).prefix(5)), &random)
                #expect(try await upload(base, dryRun: false).status == .ok)
                // A random file over the roster and newcomers.
                let csv = Self.file(Array(people.shuffled(using: &random).prefix(Int.random(in: 2...8, using: &random))), &random, blankShare: 0.2)
                let dry = try await upload(csv, dryRun: true)
                let applied = try await upload(csv, dryRun: false)
                #expect(dry.status == .ok && applied.status == .ok, "seed \(seed): \(applied.text.prefix(300))")
                #expect(Self.rows(dry) == Self.rows(applied), "seed \(seed)\nbase:\n\(base)\nfile:\n\(csv)")
                // Invariants 2–3 afterwards: one live row per email, external IDs unique among live rows.
                let members = try await t.send(.GET, "/v1/orgs/\(org)/members?limit=200", token: key)
                let items = (members.json["items"] as? [[String: Any]]) ?? []
                let emails = items.compactMap { $0["email"] as? String }
                let externalIDs = items.compactMap { $0["external_id"] as? String }
                #expect(Set(emails).count == emails.count, "seed \(seed)")
                #expect(Set(externalIDs).count == externalIDs.count, "seed \(seed): \(externalIDs)")
            }
        }
    }
}

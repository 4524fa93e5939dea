import Foundation
import Testing
import Vapor
import Fluent
@testable import RosterApp
import RosterCore
import RosterStore
import RosterTesting

/// The SMTP sink `.ci/run` starts (`.ci/smtp_sink.py`, aiosmtpd): a plain server, one requiring AUTH
/// (roster/secret), and one requiring STARTTLS and AUTH with a self-signed certificate. Recipients named
/// `refuse-…` get 550 at RCPT, `busy-…` get 421 twice; every other message is saved as `DIR/<recipient>/<n>.eml`.
struct SMTPSink {
    let port: Int, authPort: Int, tlsPort: Int
    let directory: String, caFile: String

    static let current: SMTPSink? = {
        let env = ProcessInfo.processInfo.environment
        guard let port = env["ROSTER_TEST_SMTP_PORT"].flatMap(Int.init), let directory = env["ROSTER_TEST_SMTP_DIR"] else { return nil }
        return SMTPSink(port: port, authPort: port + 1, tlsPort: port + 2, directory: directory, caFile: directory + "/cert.pem")
    }()

    /// The messages the sink saved for `recipient`, oldest first.
    func messages(to recipient: String) throws -> [String] {
        let folder = directory + "/" + recipient
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".eml") }
            .sorted { Int($0.dropLast(4)) ?? 0 < Int($1.dropLast(4)) ?? 0 }
        return try names.map { try String(contentsOfFile: folder + "/" + $0, encoding: .utf8) }
    }

    func mailer(port: Int? = nil, security: MailConfiguration.SMTPSettings.Security = .none, password: String? = nil, on app: Application) -> SMTPMailer {
        var mail = MailConfiguration()
        mail.fromAddress = "roster@roster.test"
        mail.fromName = "Roster Tëst"
        let settings = MailConfiguration.SMTPSettings(host: "127.0.0.1", port: port ?? self.port, security: security,
                                                      username: password == nil ? nil : "roster", password: password,
                                                      caFile: security == .none ? nil : caFile)
        return SMTPMailer(settings: settings, mail: mail, eventLoopGroup: app.eventLoopGroup)
    }
}

/// Counts deliveries per recipient (for exactly-once checks).
actor CountingMailer: Mailer {
    private(set) var deliveries: [String: Int] = [:]
    func send(_ message: EmailMessage) async throws { deliveries[message.to, default: 0] += 1 }
}

@Suite struct EmailDeliveryTests {
    func worker(_ t: TestApp, _ mailer: any Mailer) -> OutboxWorker {
        var worker = OutboxWorker(db: t.app.db, mailer: mailer, renderer: EmailRenderer(t.app), logger: t.app.logger, maximumAttempts: 5)
        worker.backoffBase = 0  // retries fall due at once
        return worker
    }

    func delivery(_ t: TestApp, org: String, email: String, token: String) async throws -> [String: String] {
        let members = try await t.send(.GET, "/v1/orgs/\(org)/members?status=pending", token: token)
        let row = (members.json["items"] as? [[String: Any]])?.first { $0["email"] as? String == email }
        return (row?["delivery"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
    }

    /// Settles what set-up queued (the owner's verification email), so a test counts only its own messages.
    func drain(_ t: TestApp) async throws {
        try await worker(t, CountingMailer()).deliverDue()
    }

    func unique(_ prefix: String) -> String { "\(prefix)\(UUID().uuidString.prefix(8).lowercased())@example.com" }

    @Test(.enabled(if: SMTPSink.current != nil, "needs the SMTP sink of .ci/run (ROSTER_TEST_SMTP_PORT, ROSTER_TEST_SMTP_DIR)"),
          arguments: TestBackend.available)
    func deliveredInvitationHasBothPartsHeadersAndAWorkingLink(backend: TestBackend) async throws {
        let sink = try #require(SMTPSink.current)
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com", name: "Zoë Owner")
            let org = try await t.createOrg(owner, name: "Café Ünïon")
            try await drain(t)
            let email = unique("ada-")
            #expect(try await t.invite(owner, org: org, email: email).status == .created)
            #expect(try await worker(t, sink.mailer(on: t.app)).deliverDue() == 1)

            let raw = try #require(try sink.messages(to: email).first)
            let (headers, body) = try #require(raw.range(of: "\r\n\r\n").map { (String(raw[..<$0.lowerBound]), String(raw[$0.upperBound...])) })
            #expect(headers.contains("From: =?UTF-8?B?"), "a non-ASCII sender name is RFC 2047-encoded")
            #expect(headers.contains("To: \(email)"))
            #expect(headers.contains("Subject: =?UTF-8?B?"))
            #expect(headers.range(of: #"Message-ID: <[0-9a-f-]+@roster\.test>"#, options: .regularExpression) != nil)
            #expect(headers.contains("Content-Type: multipart/alternative"))
            #expect(body.contains("Content-Type: text/plain; charset=utf-8") && body.contains("Content-Type: text/html; charset=utf-8"))
            #expect(body.contains("Zoë Owner has invited you to join Café Ünïon as Member."))
            #expect(body.contains("<strong>Zoë Owner</strong> has invited you to join"))
            #expect(!body.contains("you were added"))

            // The link in the email is the one that works.
            let token = try #require(body.range(of: #"http://roster\.test/i/[A-Za-z0-9_-]{43}"#, options: .regularExpression).map { String(body[$0].suffix(43)) })
            #expect(try await delivery(t, org: org, email: email, token: owner)["status"] == "sent")
            let invitee = try await t.verifiedPerson(email)
            #expect(try await t.send(.POST, "/v1/invitation-tokens/\(token)/accept", token: invitee).status == .ok)
            // A delivered message keeps no template fields (they held the one-time token).
            #expect(try await OutboxMessageModel.query(on: t.app.db).filter(\.$recipient == email).first()?.payload == nil)
        }
    }

    @Test(.enabled(if: SMTPSink.current != nil, "needs the SMTP sink of .ci/run"), arguments: TestBackend.available)
    func refusedRecipientIsFailedPermanentRetriedOnlyAfterCorrection(backend: TestBackend) async throws {
        let sink = try #require(SMTPSink.current)
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await drain(t)
            let wrong = unique("refuse-")
            let invited = try await t.invite(owner, org: org, email: wrong, externalID: "S-77")
            let worker = worker(t, sink.mailer(on: t.app))
            #expect(try await worker.deliverDue() == 0)

            let status = try await delivery(t, org: org, email: wrong, token: owner)
            #expect(status["status"] == "failed_permanent")
            #expect(status["last_error"]?.contains("550") == true)
            #expect(try await worker.deliverDue() == 0, "a permanent failure is not retried")

            // A re-import reports the row as failed to send.
            let report = try await t.importCSV("/v1/orgs/\(org)", "email\n\(wrong)\n", token: owner)
            #expect((report.json["rows"] as? [[String: Any]])?.first?["outcome"] as? String == "failed_to_send")

            // Resend to the corrected address: a new invitation there, the old one revoked.
            let corrected = unique("ada-")
            let id = try #require(invited.string("id"))
            let resent = try await t.send(.POST, "/v1/orgs/\(org)/members/\(id)/resend", json: ["email": corrected], token: owner)
            #expect(resent.status == .created)
            #expect(resent.string("email") == corrected && resent.string("external_id") == "S-77")
            #expect(try await worker.deliverDue() == 1)
            #expect(try sink.messages(to: corrected).count == 1)
            let old = try await t.send(.GET, "/v1/orgs/\(org)/members/\(id)", token: owner)
            #expect(old.string("status") == "revoked")
        }
    }

    @Test(.enabled(if: SMTPSink.current != nil, "needs the SMTP sink of .ci/run"))
    func temporaryRefusalIsRetriedThenDelivered() async throws {
        let sink = try #require(SMTPSink.current)
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await drain(t)
            let email = unique("busy-")
            _ = try await t.invite(owner, org: org, email: email)
            // 421 twice, then accepted: three attempts in one pass, since retries here fall due at once.
            #expect(try await worker(t, sink.mailer(on: t.app)).deliverDue() == 1)
            #expect(try sink.messages(to: email).count == 1)
            let row = try #require(try await OutboxMessageModel.query(on: t.app.db).filter(\.$recipient == email).first())
            #expect(row.status == "sent" && row.attempts == 3)
        }
    }

    @Test(.enabled(if: SMTPSink.current != nil, "needs the SMTP sink of .ci/run"))
    func refusedAuthenticationMarksNoRecipientAndPauses() async throws {
        let sink = try #require(SMTPSink.current)
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await drain(t)
            let email = unique("ada-")
            _ = try await t.invite(owner, org: org, email: email)

            let misconfigured = worker(t, sink.mailer(port: sink.authPort, password: "wrong", on: t.app))
            #expect(try await misconfigured.deliverDue() == 0)
            let row = try #require(try await OutboxMessageModel.query(on: t.app.db).filter(\.$recipient == email).first())
            #expect(row.status == "queued" && row.attempts == 0, "the message is given back untouched")
            #expect(try await delivery(t, org: org, email: email, token: owner)["status"] == "queued")
            #expect(misconfigured.pausedUntil.withLockedValue { $0 } != nil)

            // Fixed configuration (STARTTLS, trusted certificate, right password): delivered.
            let fixed = worker(t, sink.mailer(port: sink.tlsPort, security: .starttls, password: "secret", on: t.app))
            #expect(try await fixed.deliverDue() == 1)
            #expect(try sink.messages(to: email).count == 1)
        }
    }

    @Test(.enabled(if: SMTPSink.current != nil, "needs the SMTP sink of .ci/run"))
    func aRelayRefusalBlamesOurSideNotTheRecipient() async throws {
        let sink = try #require(SMTPSink.current)
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await drain(t)
            let email = unique("relay-")
            _ = try await t.invite(owner, org: org, email: email)
            let worker = worker(t, sink.mailer(on: t.app))
            #expect(try await worker.deliverDue() == 0)
            // "554 5.7.1 Relay access denied" is about our credentials, not the address: nothing is marked.
            #expect(try await delivery(t, org: org, email: email, token: owner)["status"] == "queued")
            let row = try #require(try await OutboxMessageModel.query(on: t.app.db).filter(\.$recipient == email).first())
            #expect(row.status == "queued" && row.attempts == 0)
            #expect(worker.pausedUntil.withLockedValue { $0 } != nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func aClaimTakenOverAfterItsLeaseIsSettledOnlyByItsNewHolder(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            try await t.app.db.writeTransaction { db in
                try await Outbox(db).enqueue(EmailTemplates.verification(to: "x@example.com", name: "X", token: "T"), orgID: nil, membershipID: nil, now: Date())
            }
            let delivery = OutboxDelivery(t.app.db)
            let slow = try #require(try await delivery.claim(limit: 1, now: Date()).first)
            try await delivery.requeueStale(claimedBefore: Date().addingTimeInterval(OutboxWorker.claimLease + 1))
            let current = try #require(try await delivery.claim(limit: 1, now: Date()).first)
            // The slow worker finally reports a failure: ignored, the message belongs to the new claim.
            try await delivery.settle([.init(slow, .exhausted(error: "late"))], now: Date())
            try await delivery.release([slow])
            let unchanged = try #require(try await OutboxMessageModel.find(current.id, on: t.app.db))
            #expect(unchanged.status == "sending" && unchanged.attempts == 2 && unchanged.lastError == nil)
            try await delivery.settle([.init(current, .sent)], now: Date())
            #expect(try await OutboxMessageModel.find(current.id, on: t.app.db)?.status == "sent")
        }
    }

    @Test func namesCannotInjectHeaders() async throws {
        let message = EmailMessage(to: "ada@example.com", subject: "Eve\r\nBcc: victim@example.com has invited you", text: "t", html: "h")
        let rendered = MIMEMessage.render(message, from: MIMEMessage.mailbox(name: "Eve\r\nReply-To: x@evil.example", address: "roster@roster.test"), domain: "roster.test")
        let headers = rendered.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        #expect(!headers.contains { $0.hasPrefix("Bcc:") || $0.hasPrefix("Reply-To:") })
        #expect(headers.contains("Subject: Eve  Bcc: victim@example.com has invited you"))
        // And such names are refused where they are entered.
        try await TestApp.with(.sqlite) { t in
            let refused = try await t.send(.POST, "/v1/accounts", json: ["email": "eve@example.com", "name": "Eve\nBcc: x", "password": "long enough password"])
            #expect(refused.code == "validation_failed")
        }
    }

    @Test(arguments: TestBackend.available)
    func aRolledBackChangeQueuesNothing(backend: TestBackend) async throws {
        struct Abort: Error {}
        try await TestApp.with(backend) { t in
            await #expect(throws: Abort.self) {
                try await t.app.db.writeTransaction { db in
                    try await Outbox(db).enqueue(EmailTemplates.verification(to: "x@example.com", name: "X", token: "T"), orgID: nil, membershipID: nil, now: Date())
                    throw Abort()
                }
            }
            let queued = try await OutboxMessageModel.query(on: t.app.db).count()
            #expect(queued == 0)
        }
    }

    @Test(arguments: TestBackend.available)
    func aWorkerStoppedMidBatchLosesNothingAndNothingIsSentTwice(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await drain(t)
            let emails = (0..<40).map { "person\($0)@example.com" }
            let csv = "email\n" + emails.joined(separator: "\n") + "\n"
            #expect(try await t.importCSV("/v1/orgs/\(org)", csv, token: owner).status == .ok)

            // A worker claims a batch and is killed before settling it.
            let abandoned = try await OutboxDelivery(t.app.db).claim(limit: 10, now: Date())
            #expect(abandoned.count == 10)

            // Two workers deliver the rest concurrently; the abandoned claim is not theirs until its lease ends.
            let mailer = CountingMailer()
            async let a = worker(t, mailer).deliverDue()
            async let b = worker(t, mailer).deliverDue()
            let (first, second) = try await (a, b)
            #expect(first + second == 30)
            try await OutboxDelivery(t.app.db).requeueStale(claimedBefore: Date().addingTimeInterval(OutboxWorker.claimLease + 1))
            #expect(try await worker(t, mailer).deliverDue() == 10)

            let deliveries = await mailer.deliveries
            #expect(deliveries.count == 40 && deliveries.values.allSatisfy { $0 == 1 }, "each message exactly once")
        }
    }
    @Test(arguments: TestBackend.available)
    func anImportOverTheBudgetCreatesEveryRowAndDeliversInHourlyBatches(backend: TestBackend) async throws {
        try await TestApp.with(backend, limits: .init(invitationsPerHour: 3)) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            try await drain(t)
            let emails = (0..<7).map { "student\($0)@example.com" }
            let csv = "email\n" + emails.joined(separator: "\n") + "\n"
            let imported = try await t.importCSV("/v1/orgs/\(org)", csv, token: owner)
            #expect(imported.status == .ok)
            #expect((imported.json["rows"] as? [[String: Any]])?.compactMap { $0["outcome"] as? String } == Array(repeating: "invited", count: 7))
            let now = Date()

            // Every row is there, the emails past the budget shown queued with the hour they go.
            let pending = try await t.send(.GET, "/v1/orgs/\(org)/members?status=pending", token: owner)
            func date(_ value: Any?) -> Date? { (value as? String).flatMap { try? Date($0, strategy: .iso8601) } }
            let rows = (pending.json["items"] as? [[String: Any]] ?? []).compactMap { item -> (scheduled: Date, expires: Date)? in
                guard let scheduled = date((item["delivery"] as? [String: Any])?["scheduled_at"]), let expires = date(item["expires_at"]) else { return nil }
                return (scheduled, expires)
            }
            #expect(rows.count == 7)
            #expect(rows.filter { $0.scheduled > now }.count == 4)
            #expect(Set(rows.map { $0.expires.timeIntervalSince($0.scheduled) }).count == 1, "each has its whole time to answer once its email goes")

            let mailer = CountingMailer()
            let worker = worker(t, mailer)
            #expect(try await worker.deliverDue(now: { now }) == 3)
            #expect(try await worker.deliverDue(now: { now + 1800 }) == 0, "the next batch waits for its hour")
            #expect(try await worker.deliverDue(now: { now + 3600 }) == 3)
            #expect(try await worker.deliverDue(now: { now + 7200 }) == 1)
            let deliveries = await mailer.deliveries
            #expect(deliveries.keys.sorted() == emails && deliveries.values.allSatisfy { $0 == 1 }, "none lost, none twice")
        }
    }

    /// With a budget of one an hour every invitation has a slot of its own (the writer then binds a slot per row).
    @Test(arguments: TestBackend.available)
    func aBudgetOfOneGivesEachImportedInvitationItsOwnHour(backend: TestBackend) async throws {
        try await TestApp.with(backend, limits: .init(invitationsPerHour: 1)) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let csv = "email\n" + (0..<40).map { "p\($0)@example.com" }.joined(separator: "\n") + "\n"
            #expect(try await t.importCSV("/v1/orgs/\(org)", csv, token: owner).status == .ok)
            let slots = try await OutboxMessageModel.query(on: t.app.db).filter(\.$kind == "invitation").all().compactMap(\.scheduledAt).sorted()
            #expect(slots.count == 40)
            #expect(zip(slots, slots.dropFirst()).allSatisfy { abs($1.timeIntervalSince($0) - 3600) < 1 }, "an hour apart")
            let due = try await OutboxMessageModel.query(on: t.app.db).filter(\.$kind == "invitation").all()
            #expect(due.allSatisfy { $0.nextAttemptAt == $0.scheduledAt })
        }
    }
}

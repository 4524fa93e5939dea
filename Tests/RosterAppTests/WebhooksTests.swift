import Foundation
import Testing
import Fluent
import NIOConcurrencyHelpers
import Vapor
@testable import RosterApp
import RosterCore
import RosterStore
import RosterStoreTesting
import RosterTesting

/// A receiver that answers from a script (then 200) and keeps what it was sent.
final class ScriptedReceiver: WebhookTransport, Sendable {
    struct Received: Sendable { var url: String; var headers: [String: String]; var body: [UInt8] }
    let received = NIOLockedValueBox<[Received]>([])
    let script: NIOLockedValueBox<[Int?]>
    let delay: Duration

    init(answers: [Int?] = [], delay: Duration = .zero) {
        script = NIOLockedValueBox(answers)
        self.delay = delay
    }

    func post(url: String, headers: [(String, String)], body: [UInt8]) async -> WebhookAnswer {
        if delay > .zero { try? await Task.sleep(for: delay) }
        received.withLockedValue { $0.append(Received(url: url, headers: Dictionary(headers) { $1 }, body: body)) }
        let status = script.withLockedValue { $0.isEmpty ? 200 : $0.removeFirst() }
        return WebhookAnswer(status: status, error: status == nil ? "connection refused" : nil)
    }

    var events: [[String: Any]] {
        received.withLockedValue { $0 }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] }
    }
}

/// Issue 15, point 2: webhook endpoints, signed deliveries in commit order, retries, disabling, redelivery.
@Suite struct WebhooksTests {
    let hook = "http://127.0.0.1:9/hook"

    func setUp(_ t: TestApp, types: [String]? = nil) async throws -> (owner: String, org: String, endpoint: [String: any Sendable]) {
        let owner = try await t.verifiedPerson("owner@example.com")
        let org = try await t.createOrg(owner, slug: "acme")
        var body: [String: Any] = ["url": hook, "description": "CRM"]
        if let types { body["event_types"] = types }
        let created = try await t.send(.POST, "/v1/orgs/\(org)/webhooks", json: body, token: owner)
        #expect(created.status == .created, "\(created.text)")
        return (owner, org, created.json)
    }

    func dispatcher(_ t: TestApp, _ receiver: ScriptedReceiver) -> WebhookDispatcher {
        var dispatcher = WebhookDispatcher(db: t.app.db, transport: receiver, logger: t.app.logger)
        dispatcher.jitter = { 1 }
        return dispatcher
    }

    static func allowPrivate(_ configuration: inout RosterConfiguration) { configuration.webhookAllowPrivate = true }

    @Test(arguments: TestBackend.available)
    func ownersManageEndpointsAndTheSecretIsShownOnce(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            // Without ROSTER_WEBHOOK_ALLOW_PRIVATE: https only, public addresses only.
            for url in ["http://93.184.215.14/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://[::1]/hook",
                        "https://[::ffff:192.168.0.1]/hook", "https://localhost/hook", "https://user:pw@93.184.215.14/hook", "not a url",
                        "https://012.0.0.1/hook", "https://2130706433/hook", "https://[2002:c0a8:1::1]/hook", "https://[fd00::1]/hook"] {
                let refused = try await t.send(.POST, "/v1/orgs/\(org)/webhooks", json: ["url": url], token: owner)
                #expect(refused.status == .unprocessableEntity && refused.code == "validation_failed", "\(url): \(refused.text)")
            }
            let unknownType = try await t.send(.POST, "/v1/orgs/\(org)/webhooks", json: ["url": "https://93.184.215.14/hook", "event_types": ["membership.nope"]], token: owner)
            #expect(unknownType.status == .unprocessableEntity)

            let created = try await t.send(.POST, "/v1/orgs/\(org)/webhooks",
                                           json: ["url": "https://93.184.215.14/hook", "event_types": ["membership.*"]], token: owner)
            #expect(created.status == .created)
            #expect(created.string("secret")?.hasPrefix("whsec_") == true)
            #expect((created.json["event_types"] as? [String])?.contains("membership.accepted") == true)
            let id = try #require(created.string("id"))
            let listed = try await t.send(.GET, "/v1/orgs/\(org)/webhooks", token: owner)
            #expect(listed.status == .ok && !listed.text.contains("whsec_"), "the secret is shown once")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(id)", token: owner).json["secret"] == nil)

            // Admins manage members, not webhooks; members and strangers see nothing.
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin").token
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/webhooks", token: admin).status == .forbidden)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/webhooks", json: ["url": "https://93.184.215.14/x"], token: admin).status == .forbidden)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/webhooks", token: try await t.verifiedPerson("eve@example.com")).status == .notFound)

            let patched = try await t.send(.PATCH, "/v1/orgs/\(org)/webhooks/\(id)", json: ["event_types": NSNull(), "enabled": false], token: owner)
            #expect(patched.status == .ok && patched.json["event_types"] is NSNull && patched.json["enabled"] as? Bool == false)
            let rotated = try await t.send(.POST, "/v1/orgs/\(org)/webhooks/\(id)/rotate-secret", json: ["grace_hours": 2], token: owner)
            #expect(rotated.status == .ok && rotated.string("secret") != created.string("secret"))
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/webhooks/\(id)", token: owner).status == .noContent)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(id)", token: owner).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func eventsArriveSignedOnceEachInCommitOrder(backend: TestBackend) async throws {
        try await TestApp.with(backend, configuring: Self.allowPrivate) { t in
            let (owner, org, endpoint) = try await setUp(t, types: ["membership.invited", "membership.removed"])
            let secret = try #require(endpoint["secret"] as? String)
            for person in ["a", "b", "c"] { #expect(try await t.invite(owner, org: org, email: "\(person)@example.com").status == .created) }
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["description": "not this type"], token: owner).status == .ok)
            let receiver = ScriptedReceiver()
            #expect(try await dispatcher(t, receiver).deliverDue() == 3)
            #expect(try await dispatcher(t, receiver).deliverDue() == 0, "nothing twice")
            let events = receiver.events
            #expect(events.map { ($0["data"] as? [String: Any])?["membership"] as? [String: Any] }.map { $0?["email"] as? String }
                    == ["a@example.com", "b@example.com", "c@example.com"])
            #expect(events.allSatisfy { $0["type"] as? String == "membership.invited" })
            let sequences = events.compactMap { $0["sequence"] as? Int }
            #expect(sequences == sequences.sorted() && Set(sequences).count == 3)

            // Standard Webhooks: id, timestamp, and v1 HMAC-SHA256 of "id.timestamp.body" under the secret's bytes.
            let key = try #require(Data(base64Encoded: String(secret.dropFirst("whsec_".count))))
            for delivery in receiver.received.withLockedValue({ $0 }) {
                let id = try #require(delivery.headers["webhook-id"]), timestamp = try #require(delivery.headers["webhook-timestamp"])
                let mac = HMAC<SHA256>.authenticationCode(for: Array("\(id).\(timestamp).".utf8) + delivery.body, using: SymmetricKey(data: key))
                #expect(delivery.headers["webhook-signature"] == "v1," + Data(mac).base64EncodedString())
                #expect(abs(Double(timestamp)! - Date().timeIntervalSince1970) < 60)
            }
            let log = try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(try #require(endpoint["id"] as? String))/deliveries", token: owner)
            #expect((log.json["items"] as? [[String: Any]])?.map { $0["status"] as? String } == ["delivered", "delivered", "delivered"])
        }
    }

    /// A worker whose hold on an endpoint ran out (and was taken over) writes nothing: the cursor is the new holder's.
    @Test(arguments: TestBackend.available)
    func aWorkerThatLostItsLeaseSettlesNothing(backend: TestBackend) async throws {
        try await TestApp.with(backend, configuring: Self.allowPrivate) { t in
            let (owner, org, endpoint) = try await setUp(t)
            #expect(try await t.invite(owner, org: org, email: "a@example.com").status == .created)
            let id = try #require((endpoint["id"] as? String).flatMap(UUID.init(uuidString:)))
            let store = WebhookStore(t.app.db)
            let now = Date()
            let slow = try #require(try await store.claim(id, now: now, lease: 300))
            #expect(try await store.claim(id, now: now, lease: 300) == nil, "held")
            let fast = try #require(try await store.claim(id, now: now.addingTimeInterval(301), lease: 300), "the hold ran out")
            #expect(try await store.settle(slow, cursor: 99, attempts: [], standing: .caughtUp, keepLease: nil, now: now) == false)
            #expect(try await store.renew(id, token: try #require(slow.leaseToken), until: now.addingTimeInterval(600)) == false)
            #expect(try await store.settle(fast, cursor: fast.cursor + 1, attempts: [], standing: .caughtUp, keepLease: nil, now: now))
            #expect(try await store.endpoint(id, orgID: fast.orgID)?.cursor == fast.cursor + 1)
        }
    }

    /// A change that rolls back sends nothing: deliveries read committed events only.
    @Test(arguments: TestBackend.available)
    func aRolledBackChangeSendsNothing(backend: TestBackend) async throws {
        try await TestApp.with(backend, configuring: Self.allowPrivate) { t in
            let (owner, org, _) = try await setUp(t)
            let orgID = try #require(try await t.send(.GET, "/v1/orgs/\(org)", token: owner).string("id").flatMap(UUID.init(uuidString:)))
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await t.app.db.writeTransaction { db in
                    try await AuditLog(db).record(action: "organization.updated", actor: .commandLine, orgID: orgID,
                                                  before: nil, after: ["name": "Rolled back"], requestID: nil, at: Date())
                    throw Refused()
                }
            }
            let receiver = ScriptedReceiver()
            #expect(try await dispatcher(t, receiver).deliverDue() == 0 && receiver.events.isEmpty)
            #expect(try await t.invite(owner, org: org, email: "a@example.com").status == .created)
            #expect(try await dispatcher(t, receiver).deliverDue() == 1)
            #expect(receiver.events.map { $0["type"] as? String } == ["membership.invited"])
        }
    }

    @Test(arguments: TestBackend.available)
    func failuresAreRetriedInOrderUntilTheReceiverAccepts(backend: TestBackend) async throws {
        try await TestApp.with(backend, configuring: Self.allowPrivate) { t in
            let (owner, org, endpoint) = try await setUp(t, types: ["membership.invited"])
            #expect(try await t.invite(owner, org: org, email: "a@example.com").status == .created)
            #expect(try await t.invite(owner, org: org, email: "b@example.com").status == .created)
            let receiver = ScriptedReceiver(answers: [500, nil])
            let start = Date()
            let clock = NIOLockedValueBox(start)
            let now: @Sendable () -> Date = { clock.withLockedValue { $0 } }
            #expect(try await dispatcher(t, receiver).deliverDue(now: now) == 0)
            #expect(try await dispatcher(t, receiver).deliverDue(now: now) == 0, "not due again before the backoff")
            clock.withLockedValue { $0 = start.addingTimeInterval(31) }
            #expect(try await dispatcher(t, receiver).deliverDue(now: now) == 0, "a refused connection is a failure too")
            clock.withLockedValue { $0 = start.addingTimeInterval(31 + 61) }
            #expect(try await dispatcher(t, receiver).deliverDue(now: now) == 2, "the third attempt succeeds; the next event follows")
            let emails = receiver.events.map { (($0["data"] as? [String: Any])?["membership"] as? [String: Any])?["email"] as? String }
            #expect(emails == ["a@example.com", "a@example.com", "a@example.com", "b@example.com"], "order kept per endpoint")
            let ids = receiver.received.withLockedValue { $0 }.map { $0.headers["webhook-id"] }
            #expect(Set(ids.prefix(3)).count == 1, "a retry has the same webhook-id")
            let log = try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(try #require(endpoint["id"] as? String))/deliveries", token: owner)
            let attempts = try #require(log.json["items"] as? [[String: Any]]).reversed().map { "\($0["attempt"] ?? "")/\($0["status"] ?? "")/\($0["response_status"] ?? "")" }
            #expect(attempts == ["1/failed/500", "2/failed/<null>", "3/delivered/200", "1/delivered/200"])
        }
    }

    @Test(arguments: TestBackend.available)
    func goneOrThreeDaysOfFailuresDisableTheEndpointAndTellTheOwners(backend: TestBackend) async throws {
        try await TestApp.with(backend, configuring: Self.allowPrivate) { t in
            let (owner, org, endpoint) = try await setUp(t)
            let id = try #require(endpoint["id"] as? String)
            #expect(try await t.invite(owner, org: org, email: "a@example.com").status == .created)
            #expect(try await dispatcher(t, ScriptedReceiver(answers: [410])).deliverDue() == 0)
            let gone = try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(id)", token: owner)
            #expect(gone.json["enabled"] as? Bool == false && gone.string("disabled_reason") == "gone")
            #expect(try await t.emails(to: "owner@example.com", kind: "webhook_disabled").count == 1)

            // Enabled again, it resumes at the event it did not deliver; failing for three days disables it.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/webhooks/\(id)", json: ["enabled": true], token: owner).json["enabled"] as? Bool == true)
            let receiver = ScriptedReceiver(answers: Array(repeating: 503, count: 100))
            let start = Date()
            let clock = NIOLockedValueBox(start)
            let now: @Sendable () -> Date = { clock.withLockedValue { $0 } }
            var rounds = 0
            while try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(id)", token: owner).json["enabled"] as? Bool == true, rounds < 100 {
                try await dispatcher(t, receiver).deliverDue(now: now)
                clock.withLockedValue { $0 = $0.addingTimeInterval(3600) }
                rounds += 1
            }
            #expect((72...74).contains(rounds), "disabled after three days of hourly retries: \(rounds)")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(id)", token: owner).string("disabled_reason") == "failing")
            #expect(receiver.events.allSatisfy { $0["type"] as? String == "membership.invited" })
            #expect(try await t.emails(to: "owner@example.com", kind: "webhook_disabled").count == 2)
        }
    }

    @Test(arguments: TestBackend.available)
    func aRedeliveryIsSentAgainWithTheSameID(backend: TestBackend) async throws {
        try await TestApp.with(backend, configuring: Self.allowPrivate) { t in
            let (owner, org, endpoint) = try await setUp(t)
            let id = try #require(endpoint["id"] as? String)
            #expect(try await t.invite(owner, org: org, email: "a@example.com").status == .created)
            let receiver = ScriptedReceiver()
            #expect(try await dispatcher(t, receiver).deliverDue() == 1)
            let log = try await t.send(.GET, "/v1/orgs/\(org)/webhooks/\(id)/deliveries", token: owner)
            let delivery = try #require((log.json["items"] as? [[String: Any]])?.first?["id"] as? String)
            let again = try await t.send(.POST, "/v1/orgs/\(org)/webhooks/\(id)/deliveries/\(delivery)/redeliver", token: owner)
            #expect(again.status == .accepted && again.string("status") == "pending")
            #expect(try await dispatcher(t, receiver).deliverDue() == 1)
            let ids = receiver.received.withLockedValue { $0 }.map { $0.headers["webhook-id"] }
            #expect(ids.count == 2 && ids[0] == ids[1])
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/webhooks/\(id)/deliveries/\(UUID())/redeliver", token: owner).status == .notFound)
        }
    }

    /// Two workers at once (two instances on PostgreSQL): every event is delivered exactly once, in order.
    @Test(arguments: TestBackend.available)
    func twoWorkersDeliverEachEventOnce(backend: TestBackend) async throws {
        try await TestApp.with(backend, configuring: Self.allowPrivate) { t in
            let (owner, org, _) = try await setUp(t, types: ["membership.invited"])
            let csv = "email\n" + (0..<300).map { "m\($0)@example.com" }.joined(separator: "\n") + "\n"
            #expect(try await t.importCSV("/v1/orgs/\(org)", csv, token: owner).status == .ok)
            let receiver = ScriptedReceiver(delay: .milliseconds(1))
            async let first = dispatcher(t, receiver).deliverDue()
            async let second = dispatcher(t, receiver).deliverDue()
            _ = try await (first, second)
            while try await dispatcher(t, receiver).deliverDue() > 0 {}
            let sequences = receiver.events.compactMap { $0["sequence"] as? Int }
            #expect(sequences.count == 300 && Set(sequences).count == 300, "each once")
            #expect(sequences == sequences.sorted(), "in commit order")
        }
    }
}

import Foundation
import Testing
@testable import RosterCore

@Suite struct EmailAddressTests {
    @Test func canonicalFormIsTrimmedLowercasedAndNFC() throws {
        #expect(EmailAddress("  Ada.Lovelace@Example.COM \n")?.value == "ada.lovelace@example.com")
        // "é" as e + combining acute (NFD) and as one scalar (NFC) are one address.
        let decomposed = EmailAddress("Re\u{0301}my@exa\u{0301}mple.fr")
        let composed = EmailAddress("r\u{00E9}my@ex\u{00E1}mple.fr")
        #expect(decomposed != nil)
        #expect(decomposed == composed)
    }

    @Test(arguments: ["", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@@example.com",
                      "ada@example..com", ".ada@example.com", "ada@-example.com", "<ada@example.com>"])
    func implausibleAddressesAreRefused(raw: String) {
        #expect(EmailAddress(raw) == nil)
    }

    @Test(arguments: ["ada@example.com", "ada+roster@mail.example.co.uk", "пётр@пример.рф", "o'brien@example.ie"])
    func plausibleAddressesAreAccepted(raw: String) {
        #expect(EmailAddress(raw) != nil)
    }
}

@Suite struct PasswordAndNameTests {
    @Test func passwordsNeedTenCharactersAndAtMost72Bytes() {
        #expect(AccountRules.passwordIssues("123456789").count == 1)
        #expect(AccountRules.passwordIssues("1234567890").isEmpty)
        #expect(AccountRules.passwordIssues(String(repeating: "é", count: 40)).first?.message.contains("72") == true)
    }

    @Test func namesAreTrimmedAndMustNotBeEmpty() throws {
        #expect(try AccountRules.name("  Ada  ").get() == "Ada")
        #expect(throws: FieldIssue.self) { try AccountRules.name("   ").get() }
    }
}

@Suite struct SignInThrottleTests {
    let throttle = SignInThrottle(maximumFailures: 3, window: 60)
    let start = Date(timeIntervalSince1970: 1_000_000)

    @Test func refusesAfterTheLimitUntilTheWindowEnds() {
        var record: SignInThrottle.Record? = nil
        for i in 0..<3 {
            #expect(throttle.retryAfter(record, now: start.addingTimeInterval(Double(i))) == nil)
            record = throttle.recordingFailure(record, now: start.addingTimeInterval(Double(i)))
        }
        #expect(throttle.retryAfter(record, now: start.addingTimeInterval(10)) == 50)
        #expect(throttle.retryAfter(record, now: start.addingTimeInterval(60)) == nil)
    }

    @Test func aFailureAfterTheWindowStartsANewOne() {
        let old = SignInThrottle.Record(failures: 3, windowStart: start)
        let next = throttle.recordingFailure(old, now: start.addingTimeInterval(61))
        #expect(next == SignInThrottle.Record(failures: 1, windowStart: start.addingTimeInterval(61)))
    }
}

@Suite struct ConfigurationTests {
    @Test func defaultsUseSQLiteInTheDataDirectory() throws {
        let config = try RosterConfiguration.fromEnvironment([:])
        #expect(config.dataDirectory == "./data")
        #expect(config.database == .sqlite(path: "./data/roster.sqlite"))
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.baseURL == "http://127.0.0.1:8080")
    }

    @Test func aPostgresURLSelectsPostgreSQL() throws {
        let config = try RosterConfiguration.fromEnvironment([
            "DATABASE_URL": "postgres://u:p@db:5432/roster", "ROSTER_BASE_URL": "https://roster.example.com/",
        ])
        #expect(config.database == .postgres(url: "postgres://u:p@db:5432/roster"))
        #expect(config.baseURL == "https://roster.example.com")
    }

    @Test(arguments: [
        ("ROSTER_PORT", "eighty"), ("ROSTER_PORT", "70000"), ("DATABASE_URL", "mysql://x/y"),
        ("ROSTER_BASE_URL", "roster.example.com"), ("ROSTER_HOST", "a b"), ("ROSTER_MAX_PENDING_JOIN_REQUESTS", "0"),
    ])
    func badValuesNameTheVariable(variable: String, value: String) {
        let error = #expect(throws: ConfigurationError.self) { try RosterConfiguration.fromEnvironment([variable: value]) }
        #expect(error?.variable == variable)
        #expect(error?.description.hasPrefix(variable) == true)
    }
}

@Suite struct ClientAddressTests {
    @Test func onlyWhatTrustedProxiesAppendedIsBelieved() {
        let proxies: Set<String> = ["10.0.0.1", "10.0.0.2"]
        #expect(ClientAddress.resolve(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"], trustedProxies: proxies) == "203.0.113.9",
                "a direct client's header is ignored")
        #expect(ClientAddress.resolve(peer: "10.0.0.1", forwardedFor: ["1.2.3.4, 203.0.113.7"], trustedProxies: proxies) == "203.0.113.7",
                "the nearest hop the proxy saw, not what the client prepended")
        #expect(ClientAddress.resolve(peer: "10.0.0.1", forwardedFor: ["203.0.113.7", "10.0.0.2"], trustedProxies: proxies) == "203.0.113.7",
                "chained proxies are skipped")
        #expect(ClientAddress.resolve(peer: "10.0.0.1", forwardedFor: [], trustedProxies: proxies) == "10.0.0.1")
        #expect(ClientAddress.resolve(peer: "10.0.0.1", forwardedFor: ["junk"], trustedProxies: proxies) == "10.0.0.1")
        #expect(ClientAddress.resolve(peer: nil, forwardedFor: ["1.2.3.4"], trustedProxies: proxies) == nil)
    }

    @Test func addressesHaveOneSpelling() {
        #expect(ClientAddress.canonical("[2001:DB8::1]:443") == "2001:db8:0:0:0:0:0:1")
        #expect(ClientAddress.canonical("2001:0db8:0000::0001") == "2001:db8:0:0:0:0:0:1")
        #expect(ClientAddress.canonical("203.0.113.7:5678") == "203.0.113.7")
        #expect(ClientAddress.canonical("::ffff:192.0.2.1") == "0:0:0:0:0:ffff:c000:201")
        #expect(ClientAddress.resolve(peer: "::1", forwardedFor: ["203.0.113.7:41000"], trustedProxies: ["0:0:0:0:0:0:0:1"]) == "203.0.113.7",
                "a proxy written another way is still trusted, and a hop's port is not part of it")
    }

    @Test func addressesAreIPv4OrIPv6() {
        for good in ["127.0.0.1", "::1", "2001:db8::7", "fe80:0:0:0:0:0:0:1"] { #expect(ClientAddress.isIPAddress(good), "\(good)") }
        for bad in ["localhost", "1.2.3", "256.1.1.1", "1.2.3.4.5", ":", "2001:db8::g"] { #expect(!ClientAddress.isIPAddress(bad), "\(bad)") }
    }
}

@Suite struct ConfigurationDisplayTests {
    @Test func aDatabasePasswordNeverShows() {
        #expect(RosterConfiguration.redacted("postgres://roster:s3cret@db/roster") == "postgres://roster:***@db/roster")
        #expect(RosterConfiguration.redacted("postgres://roster:p@ss@db:5432/roster?sslmode=disable") == "postgres://roster:***@db:5432/roster?sslmode=disable")
        #expect(RosterConfiguration.redacted("postgres://db/roster?user=x") == "postgres://db/roster?user=x")
        // A password with an unencoded `/` is masked whole.
        #expect(RosterConfiguration.redacted("postgres://roster:s3cret/pass@word@db/roster") == "postgres://roster:***@db/roster")
    }

    @Test func anIPv6MetricsAddressLosesItsBrackets() throws {
        #expect(try RosterConfiguration.fromEnvironment(["ROSTER_METRICS_ADDRESS": "[::1]:9090"]).metricsAddress == .init(host: "::1", port: 9090))
    }
}

import Foundation
import Testing
import Fluent
import RosterCore
import RosterStore
import RosterStoreTesting

@Suite struct AccountStoreTests {
    @Test(arguments: TestBackend.available)
    func aVerificationTokenIsConsumedExactlyOnceUnderConcurrency(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let store = AccountStore(db)
            _ = try await store.createAccount(
                email: EmailAddress("race@example.com")!, name: "R", passwordHash: "x", verified: false, platformAdmin: false,
                verificationTokenHash: "hash-1", verificationExpiresAt: Date().addingTimeInterval(60))
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await store.consumeVerification(tokenHash: "hash-1", now: Date()) != nil }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
            #expect(try await store.account(email: EmailAddress("race@example.com")!)?.emailVerifiedAt != nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func anExpiredVerificationTokenIsRefused(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let store = AccountStore(db)
            _ = try await store.createAccount(
                email: EmailAddress("late@example.com")!, name: "L", passwordHash: "x", verified: false, platformAdmin: false,
                verificationTokenHash: "hash-2", verificationExpiresAt: Date().addingTimeInterval(-1))
            #expect(try await store.consumeVerification(tokenHash: "hash-2", now: Date()) == nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func aDuplicateEmailIsMappedToEmailTaken(backend: TestBackend) async throws {
        try await StoreDatabase.with(backend) { db in
            let store = AccountStore(db)
            let email = EmailAddress("dup@example.com")!
            _ = try await store.createAccount(email: email, name: "A", passwordHash: "x", verified: true, platformAdmin: false,
                                              verificationTokenHash: nil, verificationExpiresAt: Date())
            await #expect(throws: RosterError(.emailTaken, "An account with this email address already exists.")) {
                _ = try await store.createAccount(email: email, name: "B", passwordHash: "y", verified: true, platformAdmin: false,
                                                  verificationTokenHash: nil, verificationExpiresAt: Date())
            }
        }
    }
}

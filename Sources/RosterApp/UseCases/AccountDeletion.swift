import Vapor
import Fluent
import RosterCore
import RosterStore

/// Deleting an account ends every live row it holds (DESIGN §2, "account deleted"), in one transaction, through
/// `Lifecycle.deleteAccount`: pending invitations to its email are revoked, its pending join requests withdrawn, its
/// active rows removed. The sole owner of an organization with other active members is refused (409 `last_owner`);
/// an organization whose only active member it was is deleted.
enum AccountDeletion {
    /// Deletes `account`; with `onlyIfUnverified`, only while its address is still unverified (re-read in the
    /// transaction, so an account verified meanwhile stays). Returns whether it was deleted.
    @discardableResult
    static func delete(_ account: AccountModel, requestID: String?, onlyIfUnverified: Bool = false, on database: any Database) async throws -> Bool {
        let accountID = try account.requireID()
        let email = account.email
        let ownsEmail = account.emailVerifiedAt != nil
        let now = Date()
        return try await database.writeTransaction { db in
            if onlyIfUnverified {
                guard let current = try await AccountStore(db).account(id: accountID), current.emailVerifiedAt == nil else { return false }
            }
            let store = MembershipStore(db)
            let facts = try await store.loadAccountDeletion(accountID: accountID, email: email, ownsEmail: ownsEmail)
            try await store.apply(try Lifecycle.deleteAccount(facts), now: now, requestID: requestID)
            return true
        }
    }

    /// Removes accounts that never verified their address within `ttlDays` (a batch per call), each through
    /// `delete` (the lifecycle ends whatever rows they hold), so the address is free for its owner. Returns how
    /// many went.
    @discardableResult
    static func removeUnverified(ttlDays: Int, now: Date, on database: any Database) async throws -> Int {
        let stale = try await AccountStore(database).unverifiedAccounts(createdBefore: now.addingTimeInterval(-Double(ttlDays) * 86_400), limit: 100)
        var removed = 0
        for account in stale {
            do {
                if try await delete(account, requestID: nil, onlyIfUnverified: true, on: database) { removed += 1 }
            } catch let error as RosterError where error.code == .lastOwner {
                continue   // cannot happen for an unverified account today; never blocks the others
            }
        }
        return removed
    }
}

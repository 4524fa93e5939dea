import Vapor
import Fluent
import RosterCore
import RosterStore

/// Deleting an account ends every live row it holds (DESIGN §2, "account deleted"), in one transaction, through
/// `Lifecycle.deleteAccount`: pending invitations to its email are revoked, its pending join requests withdrawn, its
/// active rows removed. The sole owner of an organization with other active members is refused (409 `last_owner`);
/// an organization whose only active member it was is deleted.
enum AccountDeletion {
    static func delete(_ account: AccountModel, requestID: String?, on database: any Database) async throws {
        let accountID = try account.requireID()
        let email = account.email
        let ownsEmail = account.emailVerifiedAt != nil
        let now = Date()
        try await database.writeTransaction { db in
            let store = MembershipStore(db)
            let facts = try await store.loadAccountDeletion(accountID: accountID, email: email, ownsEmail: ownsEmail)
            try await store.apply(try Lifecycle.deleteAccount(facts), now: now, requestID: requestID)
        }
    }
}

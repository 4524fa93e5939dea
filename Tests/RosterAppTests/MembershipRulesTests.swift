import Foundation
import Testing
import Vapor
import RosterTesting

/// Join requests, direct adds, role changes, removal, leaving, last owner and escalation.
@Suite struct MembershipRulesTests {
    @Test(arguments: TestBackend.available)
    func joinRequestsFollowThePolicyAndMeetInvitations(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let closed = try await t.createOrg(owner, name: "Closed")
            let open = try await t.createOrg(owner, name: "Open", settings: ["join_policy": "request"])
            let fay = try await t.verifiedPerson("fay@example.com")

            // A closed organization is not discoverable.
            #expect(try await t.send(.POST, "/v1/orgs/\(closed)/join-requests", json: [:], token: fay).status == .notFound)
            let requested = try await t.send(.POST, "/v1/orgs/\(open)/join-requests", json: ["message": "Hi!"], token: fay)
            #expect(requested.status == .created)
            #expect(requested.string("source") == "join_request")
            #expect(requested.string("status") == "pending")
            #expect(try await t.emails(to: "owner@example.com", kind: "join_request").count == 1)
            let again = try await t.send(.POST, "/v1/orgs/\(open)/join-requests", json: [:], token: fay)
            #expect(again.code == "join_request_pending")
            // Pending requests are listed only under join-requests.
            let members = try await t.send(.GET, "/v1/orgs/\(open)/members", token: owner)
            #expect(!members.text.contains("fay@example.com"))
            #expect(!(try await t.send(.GET, "/v1/orgs/\(open)/members?status=pending", token: owner)).text.contains("fay@example.com"))
            #expect(try await t.send(.GET, "/v1/orgs/\(open)/members?source=join_request", token: owner).code == "validation_failed")
            let requests = try await t.send(.GET, "/v1/orgs/\(open)/join-requests", token: owner)
            #expect(requests.text.contains("fay@example.com"))

            // Mutual intent: inviting a person who asked activates them.
            let invited = try await t.invite(owner, org: open, email: "fay@example.com", role: "admin")
            #expect(invited.status == .created)
            #expect(invited.string("status") == "active")
            #expect(invited.string("role") == "admin")
            #expect(invited.string("id") == requested.string("id"))

            // Asking while an invitation is pending points to it.
            try await t.invite(owner, org: open, email: "gus@example.com")
            let gus = try await t.verifiedPerson("gus@example.com")
            let conflict = try await t.send(.POST, "/v1/orgs/\(open)/join-requests", json: [:], token: gus)
            #expect(conflict.status == .conflict)
            #expect(conflict.code == "invitation_pending")
            #expect(conflict.string("invitation_id") != nil)
            #expect(try await t.send(.POST, "/v1/invitations/\(conflict.string("invitation_id") ?? "")/accept", token: gus).string("status") == "active")
        }
    }

    @Test(arguments: TestBackend.available)
    func reviewersApproveRejectAndRequestersWithdraw(backend: TestBackend) async throws {
        try await TestApp.with(backend, limits: .init(pendingJoinRequestsPerAccount: 5)) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, settings: ["join_policy": "request"])
            let member = try await t.addMember(owner: owner, org: org, email: "member@example.com")
            let people = ["h@example.com", "i@example.com", "j@example.com"]
            var ids: [String] = []
            var tokens: [String] = []
            for email in people {
                let token = try await t.verifiedPerson(email)
                tokens.append(token)
                ids.append(try #require(try await t.send(.POST, "/v1/orgs/\(org)/join-requests", json: [:], token: token).string("id")))
            }
            // Members without requests.review cannot decide.
            let forbidden = try await t.send(.POST, "/v1/orgs/\(org)/join-requests/\(ids[0])/approve", json: [:], token: member.token)
            #expect(forbidden.code == "forbidden")
            // The requester cannot approve themselves either.
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests/\(ids[0])/approve", json: [:], token: tokens[0]).status == .notFound)

            // Wrong source: a join request is not an invitation, and an invitation is not a join request.
            #expect(try await t.send(.POST, "/v1/invitations/\(ids[0])/accept", token: tokens[0]).status == .notFound)
            let invitation = try #require(try await t.invite(owner, org: org, email: "zed@example.com").string("id"))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests/\(invitation)/approve", json: [:], token: owner).status == .notFound)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(ids[0])", token: owner).status == .conflict)
            #expect(try await t.member(owner, org: org, id: ids[0]).string("status") == "pending")
            #expect(try await t.member(owner, org: org, id: invitation).string("status") == "pending")

            let approved = try await t.send(.POST, "/v1/orgs/\(org)/join-requests/\(ids[0])/approve", json: ["role": "admin"], token: owner)
            #expect(approved.string("status") == "active")
            #expect(approved.string("role") == "admin")
            #expect(try await t.emails(to: people[0], kind: "join_request_approved").count == 1)
            let rejected = try await t.send(.POST, "/v1/orgs/\(org)/join-requests/\(ids[1])/reject", token: owner)
            #expect(rejected.string("status") == "rejected")
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/join-requests/\(ids[1])/approve", json: [:], token: owner).status == .conflict)
            // Only the requester withdraws.
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/join-requests/\(ids[2])", token: tokens[0]).status == .notFound)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/join-requests/\(ids[2])", token: tokens[2]).status == .noContent)
            #expect(try await t.member(owner, org: org, id: ids[2]).string("status") == "withdrawn")
            let mine = try await t.send(.GET, "/v1/me/join-requests?status=withdrawn", token: tokens[2])
            #expect(mine.text.contains(ids[2]))
        }
    }

    @Test(arguments: TestBackend.available)
    func oneOpenJoinRequestPerAccountByDefault(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let a = try await t.createOrg(owner, name: "A", settings: ["join_policy": "request"])
            let b = try await t.createOrg(owner, name: "B", settings: ["join_policy": "request"])
            let kim = try await t.verifiedPerson("kim@example.com")
            #expect(try await t.send(.POST, "/v1/orgs/\(a)/join-requests", json: [:], token: kim).status == .created)
            let second = try await t.send(.POST, "/v1/orgs/\(b)/join-requests", json: [:], token: kim)
            #expect(second.code == "join_request_pending")
        }
    }

    @Test(arguments: TestBackend.available)
    func directAddUnderTheDirectPolicy(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            // Institution mode is the platform's to grant: the owner may not switch it on, an API key may.
            #expect(try await t.send(.POST, "/v1/orgs", json: ["name": "Self-made", "settings": ["add_policy": "direct"]], token: owner).code == "forbidden")
            let org = try await t.createOrg(owner)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["settings": ["add_policy": "direct"]], token: owner).code == "forbidden")
            let space = try #require(try await t.send(.POST, "/v1/orgs/\(org)/spaces", json: ["name": "Lab"], token: owner).string("id"))
            #expect(try await t.send(.PATCH, "/v1/spaces/\(space)", json: ["settings": ["add_policy": "direct"]], token: owner).code == "forbidden")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["settings": ["add_policy": "direct"]], token: try await t.apiKey()).status == .ok)
            // Switching back to consent is the owner's.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["settings": ["add_policy": "consent"]], token: owner).status == .ok)
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)", json: ["settings": ["add_policy": "direct"]], token: try await t.apiKey()).status == .ok)
            try await t.verifiedPerson("lee@example.com")
            let added = try await t.invite(owner, org: org, email: "lee@example.com")
            #expect(added.string("status") == "active")
            #expect(added.string("source") == "direct")
            #expect(try await t.emails(to: "lee@example.com", kind: "invitation").isEmpty)
            // Without an account there is nobody to add: an invitation goes out instead.
            let invited = try await t.invite(owner, org: org, email: "nobody@example.com")
            #expect(invited.string("status") == "pending")
            #expect(invited.string("source") == "invitation")
        }
    }

    @Test(arguments: TestBackend.available)
    func adminsCannotEscalate(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let admin = try await t.addMember(owner: owner, org: org, email: "admin@example.com", role: "admin")
            let otherAdmin = try await t.addMember(owner: owner, org: org, email: "admin2@example.com", role: "admin")
            let member = try await t.addMember(owner: owner, org: org, email: "member@example.com")
            let ownerRow = try #require((try await t.send(.GET, "/v1/orgs/\(org)/members?role=owner", token: owner).json["items"] as? [[String: Any]])?.first?["id"] as? String)

            for role in ["admin", "owner"] {
                let response = try await t.invite(admin.token, org: org, email: "new-\(role)@example.com", role: role)
                #expect(response.code == "role_escalation")
            }
            #expect(try await t.invite(admin.token, org: org, email: "new-member@example.com").status == .created)
            // Cannot promote a member to admin, demote or remove an admin or the owner.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(member.membershipID)", json: ["role": "admin"], token: admin.token).code == "role_escalation")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(otherAdmin.membershipID)", json: ["role": "member"], token: admin.token).code == "role_escalation")
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(otherAdmin.membershipID)", token: admin.token).code == "role_escalation")
            // An admin acting on the (last) owner is an escalation before any last-owner consideration.
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(ownerRow)", token: admin.token).code == "role_escalation")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(ownerRow)", json: ["role": "member"], token: admin.token).code == "role_escalation")
            // Nobody raises their own role; members cannot change roles at all.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(admin.membershipID)", json: ["role": "owner"], token: admin.token).code == "role_escalation")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(member.membershipID)", json: ["role": "admin"], token: member.token).code == "forbidden")
            // What an admin may do: remove a member.
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(member.membershipID)", token: admin.token).status == .noContent)
            #expect(try await t.member(owner, org: org, id: member.membershipID).string("status") == "removed")
            #expect(try await t.member(owner, org: org, id: otherAdmin.membershipID).string("role") == "admin")
        }
    }

    @Test(arguments: TestBackend.available)
    func theLastActiveOwnerStays(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner)
            let ownerRow = try #require((try await t.send(.GET, "/v1/orgs/\(org)/members?role=owner", token: owner).json["items"] as? [[String: Any]])?.first?["id"] as? String)
            let member = try await t.addMember(owner: owner, org: org, email: "member@example.com")

            #expect(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: owner).code == "last_owner")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(ownerRow)", json: ["role": "member"], token: owner).code == "last_owner")
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(ownerRow)", token: owner).code == "last_owner")
            #expect(try await t.send(.DELETE, "/v1/me", json: ["password": "long enough password"], token: owner).code == "last_owner")
            #expect(try await t.member(owner, org: org, id: ownerRow).string("status") == "active")

            // A pending owner invitation does not count, and can always be cancelled.
            let pendingOwner = try #require(try await t.invite(owner, org: org, email: "heir@example.com", role: "owner").string("id"))
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: owner).code == "last_owner")
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(pendingOwner)", json: ["role": "member"], token: owner).status == .ok)
            #expect(try await t.send(.DELETE, "/v1/orgs/\(org)/members/\(pendingOwner)", token: owner).status == .noContent)

            // With a second active owner, the first may leave.
            #expect(try await t.send(.PATCH, "/v1/orgs/\(org)/members/\(member.membershipID)", json: ["role": "owner"], token: owner).status == .ok)
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: owner).status == .noContent)
            #expect(try await t.member(member.token, org: org, id: ownerRow).string("status") == "left")
            // The remaining sole member may leave: the organization is deleted with them.
            #expect(try await t.send(.POST, "/v1/orgs/\(org)/leave", token: member.token).status == .noContent)
            #expect(try await t.send(.GET, "/v1/orgs/\(org)", token: member.token).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func deletingAnAccountEndsItsRows(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, settings: ["join_policy": "request"])
            let solo = try await t.createOrg(owner, name: "Solo")
            let member = try await t.addMember(owner: owner, org: org, email: "mia@example.com")
            let other = try await t.createOrg(owner, name: "Other", settings: ["join_policy": "request"])
            let pending = try #require(try await t.invite(owner, org: solo, email: "mia@example.com").string("id"))
            let request = try #require(try await t.send(.POST, "/v1/orgs/\(other)/join-requests", json: [:], token: member.token).string("id"))

            #expect(try await t.send(.DELETE, "/v1/me", json: ["password": "long enough password"], token: member.token).status == .noContent)
            #expect(try await t.member(owner, org: org, id: member.membershipID).string("status") == "removed")
            #expect(try await t.member(owner, org: solo, id: pending).string("status") == "revoked")
            #expect(try await t.member(owner, org: other, id: request).string("status") == "withdrawn")

            // An unverified sign-up with someone's address cannot cancel the invitations sent to it.
            let waiting = try #require(try await t.invite(owner, org: org, email: "victim@example.com").string("id"))
            try await t.signUp("victim@example.com")
            let impostor = try await t.signIn("victim@example.com")
            #expect(try await t.send(.DELETE, "/v1/me", json: ["password": "long enough password"], token: impostor).status == .noContent)
            #expect(try await t.member(owner, org: org, id: waiting).string("status") == "pending")

            // The owner is the sole member of every org now: deleting the account deletes them.
            #expect(try await t.send(.DELETE, "/v1/me", json: ["password": "long enough password"], token: owner).status == .noContent)
            let again = try await t.verifiedPerson("owner2@example.com")
            #expect(try await t.send(.GET, "/v1/orgs/\(org)", token: again).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.available)
    func seatLimitsCountActiveAndPending(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, settings: ["seat_limit": 2])
            #expect(try await t.invite(owner, org: org, email: "n1@example.com").status == .created)
            let full = try await t.invite(owner, org: org, email: "n2@example.com")
            #expect(full.status == .conflict)
            #expect(full.code == "seat_limit")
        }
    }
}

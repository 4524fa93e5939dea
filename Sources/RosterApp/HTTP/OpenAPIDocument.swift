import Foundation
import RosterCore

/// The OpenAPI 3.1 description of every route `roster serve` answers. A test keeps it equal to the router.
enum OpenAPIDocument {
    /// One documented operation.
    struct Operation {
        var method: String
        var path: String
        var summary: String
        var tag: String
        var authenticated: Bool
        var requestSchema: String?
        var requestContentType = "application/json"
        /// status → (description, schema name or nil, content type)
        var responses: [(Int, String, String?)]
        var errors: [Int]
        /// Query parameters (all optional; typed in `queryParameters`).
        var query: [String] = []

        /// The operation's id (`operationIDs`).
        var operationID: String {
            if let id = OpenAPIDocument.operationIDs["\(method) \(path)"] { return id }
            let orgPath = path.replacingOccurrences(of: "/v1/spaces/{space}/", with: "/v1/orgs/{org}/")
            return OpenAPIDocument.operationIDs["\(method) \(orgPath)"].map { $0.replacingOccurrences(of: "Org", with: "Space") } ?? "\(method)\(path)"
        }

        /// The links of its success responses (`createdLinks`), as OpenAPI writes them.
        var links: [String: Any]? {
            let space = path.hasPrefix("/v1/spaces/{space}/")
            let source = space ? operationID.replacingOccurrences(of: "Space", with: "Org") : operationID
            guard let targets = OpenAPIDocument.createdLinks[source] else { return nil }
            var links: [String: Any] = [:]
            for (target, parameters) in targets {
                let id = space ? target.replacingOccurrences(of: "Org", with: "Space") : target
                var mapped: [String: String] = [:]
                for (name, expression) in parameters {
                    if space && name == "org" { mapped["space"] = "$request.path.space" } else { mapped[name] = expression }
                }
                links[id.prefix(1).uppercased() + id.dropFirst()] = ["operationId": id, "parameters": mapped]
            }
            return links
        }

        /// The summary, what the caller needs, and what the refusals mean.
        var description: String {
            var text = summary + "."
            text += authenticated ? " Needs a session token or an API key (`Authorization: Bearer …`)." : " Needs no authentication."
            if !errors.isEmpty {
                text += " Refusals are problem+json documents with a stable `code` (statuses \(errors.map(String.init).joined(separator: ", ")))."
            }
            return text
        }
    }

    /// Operation ids, named for what they do, by `method path`; a space's roster operation is its organization's with
    /// `Space` for `Org` (`listOrgMembers` → `listSpaceMembers`).
    static let operationIDs: [String: String] = [
        "get /healthz": "checkHealth",
        "get /readyz": "checkReadiness",
        "get /metrics": "getMetrics",
        "get /openapi.json": "getOpenAPIDocument",
        "post /v1/accounts": "signUp",
        "post /v1/accounts/verify": "verifyEmail",
        "post /v1/password-resets": "requestPasswordReset",
        "post /v1/password-resets/confirm": "confirmPasswordReset",
        "post /v1/sessions": "signIn",
        "delete /v1/sessions/current": "signOut",
        "get /v1/me": "getMe",
        "patch /v1/me": "updateMe",
        "post /v1/me/email": "changeEmail",
        "delete /v1/me": "deleteMe",
        "post /v1/orgs": "createOrg",
        "get /v1/orgs": "listOrgs",
        "get /v1/orgs/{org}": "getOrg",
        "patch /v1/orgs/{org}": "updateOrg",
        "delete /v1/orgs/{org}": "deleteOrg",
        "get /v1/orgs/{org}/roles": "listRoles",
        "put /v1/orgs/{org}/roles/{ladder}/{key}": "putRole",
        "delete /v1/orgs/{org}/roles/{ladder}/{key}": "deleteRole",
        "get /v1/orgs/{org}/audit": "listOrgAuditEvents",
        "get /v1/orgs/{org}/events": "listOrgEvents",
        "post /v1/orgs/{org}/invite-links": "createOrgInviteLink",
        "get /v1/orgs/{org}/invite-links": "listOrgInviteLinks",
        "delete /v1/orgs/{org}/invite-links/{link}": "revokeOrgInviteLink",
        "get /v1/invite-links/{code}": "previewInviteLink",
        "post /v1/invite-links/{code}/join": "joinByInviteLink",
        "post /v1/orgs/{org}/domains": "addOrgDomain",
        "get /v1/orgs/{org}/domains": "listOrgDomains",
        "get /v1/orgs/{org}/domains/{domain}": "getOrgDomain",
        "patch /v1/orgs/{org}/domains/{domain}": "updateOrgDomain",
        "delete /v1/orgs/{org}/domains/{domain}": "removeOrgDomain",
        "post /v1/orgs/{org}/domains/{domain}/verify": "verifyOrgDomain",
        "get /v1/me/domain-suggestions": "listMyDomainSuggestions",
        "post /v1/orgs/{org}/api-keys": "createOrgAPIKey",
        "get /v1/orgs/{org}/api-keys": "listOrgAPIKeys",
        "delete /v1/orgs/{org}/api-keys/{key}": "revokeOrgAPIKey",
        "post /v1/orgs/{org}/webhooks": "createWebhook",
        "get /v1/orgs/{org}/webhooks": "listWebhooks",
        "get /v1/orgs/{org}/webhooks/{webhook}": "getWebhook",
        "patch /v1/orgs/{org}/webhooks/{webhook}": "updateWebhook",
        "delete /v1/orgs/{org}/webhooks/{webhook}": "deleteWebhook",
        "post /v1/orgs/{org}/webhooks/{webhook}/rotate-secret": "rotateWebhookSecret",
        "get /v1/orgs/{org}/webhooks/{webhook}/deliveries": "listWebhookDeliveries",
        "post /v1/orgs/{org}/webhooks/{webhook}/deliveries/{delivery}/redeliver": "redeliverWebhook",
        "get /v1/spaces/{space}/audit": "listSpaceAuditEvents",
        "post /v1/orgs/{org}/leave": "leaveOrg",
        "get /v1/orgs/{org}/members": "listOrgMembers",
        "post /v1/orgs/{org}/members": "inviteOrgMember",
        "get /v1/orgs/{org}/members/{id}": "getOrgMember",
        "patch /v1/orgs/{org}/members/{id}": "updateOrgMember",
        "delete /v1/orgs/{org}/members/{id}": "removeOrgMember",
        "post /v1/orgs/{org}/members/{id}/resend": "resendOrgInvitation",
        "post /v1/orgs/{org}/join-requests": "requestToJoinOrg",
        "get /v1/orgs/{org}/join-requests": "listOrgJoinRequests",
        "post /v1/orgs/{org}/join-requests/{id}/approve": "approveOrgJoinRequest",
        "post /v1/orgs/{org}/join-requests/{id}/reject": "rejectOrgJoinRequest",
        "delete /v1/orgs/{org}/join-requests/{id}": "withdrawOrgJoinRequest",
        "post /v1/orgs/{org}/imports": "importOrgMembers",
        "get /v1/orgs/{org}/imports/{import}/failures.csv": "getOrgImportFailures",
        "get /v1/orgs/{org}/members.csv": "exportOrgMembers",
        "post /v1/orgs/{org}/spaces": "createSpace",
        "get /v1/orgs/{org}/spaces": "listSpaces",
        "get /v1/spaces/{space}": "getSpace",
        "patch /v1/spaces/{space}": "updateSpace",
        "delete /v1/spaces/{space}": "deleteSpace",
        "post /v1/invitations/{id}/accept": "acceptInvitation",
        "post /v1/invitations/{id}/decline": "declineInvitation",
        "get /v1/invitation-tokens/{token}": "previewInvitation",
        "post /v1/invitation-tokens/{token}/accept": "acceptInvitationByToken",
        "post /v1/invitation-tokens/{token}/decline": "declineInvitationByToken",
        "get /v1/me/memberships": "listMyMemberships",
        "get /v1/me/invitations": "listMyInvitations",
        "get /v1/me/join-requests": "listMyJoinRequests",
        "post /v1/authorize": "authorize",
        "get /verify-email": "showVerifyEmailPage",
        "post /verify-email": "submitVerifyEmailPage",
    ]

    /// OpenAPI links from each operation that creates something to the operations that take its id, by source
    /// operation id: the target's id and its parameters (runtime expressions). A space's roster operations get the same
    /// links with `Space` for `Org` and the `space` path parameter (`Operation.links`).
    static let createdLinks: [String: [(target: String, parameters: [String: String])]] = {
        let org = ["org": "$response.body#/id"], space = ["space": "$response.body#/id"]
        let member = ["org": "$request.path.org", "id": "$response.body#/id"]
        let invitation = ["id": "$response.body#/id"]
        return [
            "createOrg": ["getOrg", "updateOrg", "deleteOrg", "listOrgMembers", "inviteOrgMember", "listOrgJoinRequests", "createSpace", "listSpaces",
                          "listRoles", "listOrgAuditEvents", "listOrgEvents", "createWebhook", "listWebhooks", "createOrgAPIKey", "listOrgAPIKeys", "addOrgDomain", "listOrgDomains", "exportOrgMembers", "importOrgMembers", "requestToJoinOrg"].map { ($0, org) }
                + [("putRole", ["org": "$response.body#/id", "ladder": "space"])],
            "createSpace": ["getSpace", "updateSpace", "deleteSpace", "listSpaceMembers", "inviteSpaceMember", "listSpaceJoinRequests",
                            "listSpaceAuditEvents", "exportSpaceMembers", "importSpaceMembers", "requestToJoinSpace"].map { ($0, space) },
            "inviteOrgMember": ["getOrgMember", "updateOrgMember", "removeOrgMember", "resendOrgInvitation"].map { ($0, member) }
                + ["acceptInvitation", "declineInvitation"].map { ($0, invitation) },
            "requestToJoinOrg": ["approveOrgJoinRequest", "rejectOrgJoinRequest", "withdrawOrgJoinRequest", "getOrgMember"].map { ($0, member) },
            "addOrgDomain": ["getOrgDomain", "updateOrgDomain", "removeOrgDomain", "verifyOrgDomain"]
                .map { ($0, ["org": "$request.path.org", "domain": "$response.body#/id"]) },
            "createOrgAPIKey": [("revokeOrgAPIKey", ["org": "$request.path.org", "key": "$response.body#/id"])],
            "createWebhook": ["getWebhook", "updateWebhook", "deleteWebhook", "rotateWebhookSecret", "listWebhookDeliveries"]
                .map { ($0, ["org": "$request.path.org", "webhook": "$response.body#/id"]) },
            "putRole": [("deleteRole", ["org": "$request.path.org", "ladder": "$request.path.ladder", "key": "$response.body#/key"])],
            "importOrgMembers": [("getOrgImportFailures", ["org": "$request.path.org", "import": "$response.body#/id"])],
        ]
    }()

    /// Every operation: the listed ones, plus each roster operation of organizations again under `/v1/spaces/{space}`.
    static var operations: [Operation] {
        let rosterPrefix = "/v1/orgs/{org}/"
        let roster = listed.filter { op in
            ["members", "join-requests", "leave", "imports", "invite-links"].contains { op.path.hasPrefix(rosterPrefix + $0) }
        }
        return listed + roster.map { op in
            var copy = op
            copy.path = "/v1/spaces/{space}/" + op.path.dropFirst(rosterPrefix.count)
            copy.summary = op.summary.replacingOccurrences(of: "organization", with: "space")
            return copy
        }
    }

    static let listed: [Operation] = [
        Operation(method: "get", path: "/healthz", summary: "Liveness", tag: "operations", authenticated: false,
                  responses: [(200, "Alive", "Status")], errors: []),
        Operation(method: "get", path: "/readyz", summary: "Readiness (database reachable)", tag: "operations", authenticated: false,
                  responses: [(200, "Ready", "Status"), (503, "Database unreachable", "Status")], errors: []),
        Operation(method: "get", path: "/metrics", summary: "Metrics in the Prometheus text format (here unless ROSTER_METRICS_ADDRESS moves them)",
                  tag: "operations", authenticated: false, responses: [(200, "Metrics", nil)], errors: [404]),
        Operation(method: "get", path: "/openapi.json", summary: "This document", tag: "operations", authenticated: false,
                  responses: [(200, "The OpenAPI document", nil)], errors: []),
        Operation(method: "post", path: "/v1/accounts", summary: "Sign up; sends a verification email", tag: "accounts", authenticated: false,
                  requestSchema: "CreateAccountRequest", responses: [(201, "Created", "Account")], errors: [400, 409, 413, 415, 422]),
        Operation(method: "post", path: "/v1/accounts/verify", summary: "Verify an email address (or confirm a new one) with the emailed token",
                  tag: "accounts", authenticated: false, requestSchema: "VerifyEmailRequest", responses: [(200, "Verified", "Account")],
                  errors: [400, 409, 413, 415, 422]),
        Operation(method: "post", path: "/v1/password-resets", summary: "Email a link to choose a new password (the same answer for any address)",
                  tag: "accounts", authenticated: false, requestSchema: "PasswordResetRequest", responses: [(202, "Accepted", "Status")],
                  errors: [400, 413, 415, 422]),
        Operation(method: "post", path: "/v1/password-resets/confirm", summary: "Choose a new password with the emailed token; every session ends",
                  tag: "accounts", authenticated: false, requestSchema: "ConfirmPasswordResetRequest", responses: [(200, "Changed", "Account")],
                  errors: [400, 413, 415, 422]),
        Operation(method: "post", path: "/v1/sessions", summary: "Sign in", tag: "sessions", authenticated: false,
                  requestSchema: "CreateSessionRequest", responses: [(201, "Signed in", "Session")], errors: [400, 401, 413, 415, 422, 429]),
        Operation(method: "delete", path: "/v1/sessions/current", summary: "Sign out", tag: "sessions", authenticated: true,
                  responses: [(204, "Signed out", nil)], errors: [401]),
        Operation(method: "get", path: "/v1/me", summary: "The signed-in account", tag: "me", authenticated: true,
                  responses: [(200, "The account", "Account")], errors: [401]),
        Operation(method: "patch", path: "/v1/me", summary: "Change name or password", tag: "me", authenticated: true,
                  requestSchema: "UpdateMeRequest", responses: [(200, "Updated", "Account")], errors: [400, 401, 413, 415, 422, 429]),
        Operation(method: "post", path: "/v1/me/email", summary: "Change the sign-in address: emails a link to the new one (the same answer whether or not it is taken)",
                  tag: "me", authenticated: true, requestSchema: "ChangeEmailRequest", responses: [(202, "A link is on its way", "Status")],
                  errors: [400, 401, 413, 415, 422, 429]),
        Operation(method: "delete", path: "/v1/me", summary: "Delete the signed-in account", tag: "me", authenticated: true,
                  requestSchema: "DeleteMeRequest", responses: [(204, "Deleted", nil)], errors: [400, 401, 409, 413, 415, 422, 429]),
        Operation(method: "post", path: "/v1/orgs", summary: "Create an organization (the caller becomes its owner)", tag: "organizations", authenticated: true,
                  requestSchema: "CreateOrganizationRequest", responses: [(201, "Created", "Organization")], errors: [400, 401, 403, 409, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs", summary: "My organizations (keyset cursor)", tag: "organizations", authenticated: true,
                  responses: [(200, "A page", "OrganizationPage")], errors: [401, 422], query: ["cursor", "limit"]),
        Operation(method: "get", path: "/v1/orgs/{org}", summary: "An organization", tag: "organizations", authenticated: true,
                  responses: [(200, "The organization", "Organization")], errors: [401, 403, 404]),
        Operation(method: "patch", path: "/v1/orgs/{org}", summary: "Rename, re-slug, change settings", tag: "organizations", authenticated: true,
                  requestSchema: "UpdateOrganizationRequest", responses: [(200, "Updated", "Organization")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "delete", path: "/v1/orgs/{org}", summary: "Delete an organization (owners)", tag: "organizations", authenticated: true,
                  responses: [(204, "Deleted", nil)], errors: [401, 403, 404]),
        Operation(method: "get", path: "/v1/orgs/{org}/roles", summary: "The org and space role ladders", tag: "roles", authenticated: true,
                  responses: [(200, "Roles", "Roles")], errors: [401, 403, 404]),
        Operation(method: "put", path: "/v1/orgs/{org}/roles/{ladder}/{key}", summary: "Create or change a custom role", tag: "roles", authenticated: true,
                  requestSchema: "PutRoleRequest", responses: [(200, "Changed", "Role"), (201, "Created", "Role")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "delete", path: "/v1/orgs/{org}/roles/{ladder}/{key}", summary: "Delete a role no live row holds", tag: "roles", authenticated: true,
                  responses: [(204, "Deleted", nil)], errors: [401, 403, 404, 409, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/audit", summary: "The audit log, its spaces' events included, newest first", tag: "audit",
                  authenticated: true, responses: [(200, "A page", "AuditPage")], errors: [401, 403, 404, 422], query: ["cursor", "limit"]),
        Operation(method: "get", path: "/v1/orgs/{org}/events", summary: "The organization's events after a number, oldest first (kept 30 days)",
                  tag: "events", authenticated: true, responses: [(200, "Events", "EventPage")], errors: [401, 403, 404, 422],
                  query: ["after", "types", "limit"]),
        Operation(method: "post", path: "/v1/orgs/{org}/invite-links",
                  summary: "Create a shareable invite link (its URL is shown in this answer only; the role at most one you may grant)",
                  tag: "invite links", authenticated: true, requestSchema: "CreateInviteLinkRequest", responses: [(201, "Created", "InviteLink")],
                  errors: [400, 401, 403, 404, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/invite-links", summary: "The organization's invite links, newest first (keyset cursor)",
                  tag: "invite links", authenticated: true, responses: [(200, "A page", "InviteLinkPage")], errors: [401, 403, 404, 422],
                  query: ["cursor", "limit"]),
        Operation(method: "delete", path: "/v1/orgs/{org}/invite-links/{link}", summary: "Turn an invite link off at once",
                  tag: "invite links", authenticated: true, responses: [(204, "Revoked", nil)], errors: [401, 403, 404]),
        Operation(method: "get", path: "/v1/invite-links/{code}", summary: "What an invite link offers (the code is the secret)",
                  tag: "invite links", authenticated: false, responses: [(200, "The offer", "InviteLinkPreview")], errors: [404]),
        Operation(method: "post", path: "/v1/invite-links/{code}/join",
                  summary: "Join through an invite link (or ask to, when it requires approval)", tag: "invite links", authenticated: true,
                  responses: [(201, "Joined, or asked to", "Membership")], errors: [401, 403, 404, 409, 410, 422]),
        Operation(method: "post", path: "/v1/orgs/{org}/domains",
                  summary: "Claim an email domain (verified by the DNS TXT record in the answer; public email domains are refused)",
                  tag: "domains", authenticated: true, requestSchema: "AddDomainRequest", responses: [(201, "Added", "Domain")],
                  errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/domains", summary: "The organization's email domains", tag: "domains",
                  authenticated: true, responses: [(200, "Domains", "DomainList")], errors: [401, 403, 404]),
        Operation(method: "get", path: "/v1/orgs/{org}/domains/{domain}", summary: "One email domain", tag: "domains",
                  authenticated: true, responses: [(200, "The domain", "Domain")], errors: [401, 403, 404]),
        Operation(method: "patch", path: "/v1/orgs/{org}/domains/{domain}",
                  summary: "Change a domain's policy (suggest, request, auto) and the role auto gives", tag: "domains", authenticated: true,
                  requestSchema: "UpdateDomainRequest", responses: [(200, "Changed", "Domain")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "delete", path: "/v1/orgs/{org}/domains/{domain}", summary: "Remove a domain (its members stay)", tag: "domains",
                  authenticated: true, responses: [(204, "Removed", nil)], errors: [401, 403, 404]),
        Operation(method: "post", path: "/v1/orgs/{org}/domains/{domain}/verify", summary: "Look the domain's TXT record up now",
                  tag: "domains", authenticated: true, responses: [(200, "Verified", "Domain")], errors: [401, 403, 404, 409, 422]),
        Operation(method: "get", path: "/v1/me/domain-suggestions", summary: "Organizations that verified my email's domain",
                  tag: "me", authenticated: true, responses: [(200, "Suggestions", "DomainSuggestionList")], errors: [401]),
        Operation(method: "post", path: "/v1/orgs/{org}/api-keys",
                  summary: "Create an organization API key (owners; the key is shown in this answer only)", tag: "api keys", authenticated: true,
                  requestSchema: "CreateOrgAPIKeyRequest", responses: [(201, "Created", "OrgAPIKey")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/api-keys", summary: "The organization's API keys, revoked ones included (owners)",
                  tag: "api keys", authenticated: true, responses: [(200, "Keys", "OrgAPIKeyList")], errors: [401, 403, 404]),
        Operation(method: "delete", path: "/v1/orgs/{org}/api-keys/{key}", summary: "Revoke an organization API key at once (owners)",
                  tag: "api keys", authenticated: true, responses: [(204, "Revoked", nil)], errors: [401, 403, 404]),
        Operation(method: "post", path: "/v1/orgs/{org}/webhooks", summary: "Add a webhook endpoint (its secret is shown in this answer only)",
                  tag: "webhooks", authenticated: true, requestSchema: "CreateWebhookRequest", responses: [(201, "Created", "Webhook")],
                  errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/webhooks", summary: "The organization's webhook endpoints", tag: "webhooks",
                  authenticated: true, responses: [(200, "Endpoints", "WebhookList")], errors: [401, 403, 404]),
        Operation(method: "get", path: "/v1/orgs/{org}/webhooks/{webhook}", summary: "One webhook endpoint", tag: "webhooks",
                  authenticated: true, responses: [(200, "The endpoint", "Webhook")], errors: [401, 403, 404]),
        Operation(method: "patch", path: "/v1/orgs/{org}/webhooks/{webhook}",
                  summary: "Change an endpoint; enabling it again resumes after the last event it accepted", tag: "webhooks", authenticated: true,
                  requestSchema: "UpdateWebhookRequest", responses: [(200, "Changed", "Webhook")], errors: [400, 401, 403, 404, 413, 415, 422]),
        Operation(method: "delete", path: "/v1/orgs/{org}/webhooks/{webhook}", summary: "Delete an endpoint and its delivery log", tag: "webhooks",
                  authenticated: true, responses: [(204, "Deleted", nil)], errors: [401, 403, 404]),
        Operation(method: "post", path: "/v1/orgs/{org}/webhooks/{webhook}/rotate-secret",
                  summary: "A new secret (shown in this answer only); the old one also signs for grace_hours", tag: "webhooks", authenticated: true,
                  requestSchema: "RotateWebhookSecretRequest", responses: [(200, "Rotated", "Webhook")], errors: [400, 401, 403, 404, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/webhooks/{webhook}/deliveries", summary: "The endpoint's delivery log, newest first (30 days)",
                  tag: "webhooks", authenticated: true, responses: [(200, "A page", "WebhookDeliveryPage")], errors: [401, 403, 404, 422],
                  query: ["cursor", "limit"]),
        Operation(method: "post", path: "/v1/orgs/{org}/webhooks/{webhook}/deliveries/{delivery}/redeliver",
                  summary: "Send a logged delivery's event again (same webhook-id)", tag: "webhooks", authenticated: true,
                  responses: [(202, "Queued", "WebhookDelivery")], errors: [401, 403, 404, 409]),
        Operation(method: "get", path: "/v1/spaces/{space}/audit", summary: "The space's audit log, newest first", tag: "audit",
                  authenticated: true, responses: [(200, "A page", "AuditPage")], errors: [401, 403, 404, 422], query: ["cursor", "limit"]),
        Operation(method: "post", path: "/v1/orgs/{org}/leave", summary: "Leave the organization", tag: "memberships", authenticated: true,
                  responses: [(204, "Left", nil)], errors: [401, 403, 404, 409]),
        Operation(method: "get", path: "/v1/orgs/{org}/members", summary: "Members and pending invitations (filters, search, keyset cursor)", tag: "memberships",
                  authenticated: true, responses: [(200, "A page", "MembershipPage")], errors: [401, 403, 404, 422],
                  query: ["status", "role", "source", "invite_link", "q", "cursor", "limit"]),
        Operation(method: "post", path: "/v1/orgs/{org}/members", summary: "Invite an email (or add directly under the direct policy)", tag: "memberships",
                  authenticated: true, requestSchema: "InviteMemberRequest", responses: [(201, "Invited or added", "Membership")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/members/{id}", summary: "One membership, in any status", tag: "memberships", authenticated: true,
                  responses: [(200, "The membership", "Membership")], errors: [401, 403, 404]),
        Operation(method: "patch", path: "/v1/orgs/{org}/members/{id}", summary: "Change role, external ID or attributes", tag: "memberships", authenticated: true,
                  requestSchema: "UpdateMemberRequest", responses: [(200, "Changed", "Membership")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "delete", path: "/v1/orgs/{org}/members/{id}", summary: "Remove an active member or revoke a pending invitation", tag: "memberships",
                  authenticated: true, responses: [(204, "Ended", nil)], errors: [401, 403, 404, 409, 422]),
        Operation(method: "post", path: "/v1/orgs/{org}/members/{id}/resend",
                  summary: "Resend an invitation (new token, new expiry); with a corrected email, a new invitation there and the old one revoked",
                  tag: "memberships", authenticated: true, requestSchema: "ResendRequest",
                  responses: [(200, "Resent", "Membership"), (201, "Sent to the corrected address", "Membership")],
                  errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "post", path: "/v1/orgs/{org}/join-requests", summary: "Ask to join", tag: "join requests", authenticated: true,
                  requestSchema: "JoinRequestBody", responses: [(201, "Requested", "Membership")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/join-requests", summary: "Join requests (pending by default)", tag: "join requests", authenticated: true,
                  responses: [(200, "A page", "MembershipPage")], errors: [401, 403, 404, 422], query: ["status", "invite_link", "cursor", "limit"]),
        Operation(method: "post", path: "/v1/orgs/{org}/join-requests/{id}/approve", summary: "Approve, optionally with a role", tag: "join requests",
                  authenticated: true, requestSchema: "ApproveRequestBody", responses: [(200, "Approved", "Membership")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "post", path: "/v1/orgs/{org}/join-requests/{id}/reject", summary: "Reject", tag: "join requests", authenticated: true,
                  responses: [(200, "Rejected", "Membership")], errors: [400, 401, 403, 404, 409, 415, 422]),
        Operation(method: "delete", path: "/v1/orgs/{org}/join-requests/{id}", summary: "Withdraw my join request", tag: "join requests", authenticated: true,
                  responses: [(204, "Withdrawn", nil)], errors: [401, 404]),
        Operation(method: "post", path: "/v1/orgs/{org}/imports", summary: "Import a CSV roster (dry_run=true previews, writing nothing; mode=sync also ends the live rows the file does not list)", tag: "imports",
                  authenticated: true, requestSchema: "CSVFile", requestContentType: "text/csv",
                  responses: [(200, "The report", "ImportReport")], errors: [401, 403, 404, 413, 422], query: ["dry_run", "mode", "change_threshold"]),
        Operation(method: "get", path: "/v1/orgs/{org}/imports/{import}/failures.csv", summary: "The failed rows of an import (line, email, reason)",
                  tag: "imports", authenticated: true, responses: [(200, "CSV file", nil)], errors: [401, 403, 404]),
        Operation(method: "get", path: "/v1/orgs/{org}/members.csv", summary: "The roster as CSV the importer reads back", tag: "imports",
                  authenticated: true, responses: [(200, "CSV file", nil)], errors: [401, 403, 404]),
        Operation(method: "post", path: "/v1/orgs/{org}/spaces", summary: "Create a space with its own roster", tag: "spaces", authenticated: true,
                  requestSchema: "SpaceRequest", responses: [(201, "Created", "Space")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "get", path: "/v1/orgs/{org}/spaces", summary: "The organization's spaces (keyset cursor)", tag: "spaces", authenticated: true,
                  responses: [(200, "A page", "SpacePage")], errors: [401, 403, 404, 422], query: ["cursor", "limit"]),
        Operation(method: "get", path: "/v1/spaces/{space}", summary: "A space", tag: "spaces", authenticated: true,
                  responses: [(200, "The space", "Space")], errors: [401, 403, 404]),
        Operation(method: "patch", path: "/v1/spaces/{space}", summary: "Rename, re-slug, change settings or attribute definitions", tag: "spaces",
                  authenticated: true, requestSchema: "SpaceRequest", responses: [(200, "Updated", "Space")], errors: [400, 401, 403, 404, 409, 413, 415, 422]),
        Operation(method: "delete", path: "/v1/spaces/{space}", summary: "Delete a space (its pending rows are revoked)", tag: "spaces",
                  authenticated: true, responses: [(204, "Deleted", nil)], errors: [401, 403, 404]),
        Operation(method: "post", path: "/v1/invitations/{id}/accept", summary: "Accept an invitation addressed to my verified email", tag: "invitee",
                  authenticated: true, responses: [(200, "Active membership", "Membership")], errors: [401, 404]),
        Operation(method: "post", path: "/v1/invitations/{id}/decline", summary: "Decline an invitation addressed to me", tag: "invitee",
                  authenticated: true, responses: [(200, "Declined", "Membership")], errors: [401, 404]),
        Operation(method: "get", path: "/v1/invitation-tokens/{token}", summary: "What an emailed invitation link offers", tag: "invitee",
                  authenticated: false, responses: [(200, "The invitation", "InvitationPreview")], errors: [404]),
        Operation(method: "post", path: "/v1/invitation-tokens/{token}/accept", summary: "Accept with the emailed token (verifies the email)", tag: "invitee",
                  authenticated: true, responses: [(200, "Active membership", "Membership")], errors: [401, 403, 404]),
        Operation(method: "post", path: "/v1/invitation-tokens/{token}/decline", summary: "Decline with the emailed token", tag: "invitee",
                  authenticated: true, responses: [(200, "Declined", "Membership")], errors: [401, 403, 404]),
        Operation(method: "get", path: "/v1/me/memberships", summary: "My active memberships", tag: "me", authenticated: true,
                  responses: [(200, "Memberships", "MyMemberships")], errors: [401, 422], query: ["cursor", "limit"]),
        Operation(method: "get", path: "/v1/me/invitations", summary: "Pending invitations to my verified email", tag: "me", authenticated: true,
                  responses: [(200, "Invitations", "MyMemberships")], errors: [401, 422], query: ["cursor", "limit"]),
        Operation(method: "get", path: "/v1/me/join-requests", summary: "My join requests", tag: "me", authenticated: true,
                  responses: [(200, "Join requests", "MyMemberships")], errors: [401, 422], query: ["status", "cursor", "limit"]),
        Operation(method: "post", path: "/v1/authorize", summary: "Does an account hold a permission? (API keys)", tag: "integrations", authenticated: true,
                  requestSchema: "AuthorizeRequest", responses: [(200, "The answer", "AuthorizeResponse")], errors: [400, 401, 403, 413, 415, 422]),
        Operation(method: "get", path: "/verify-email", summary: "Email verification page (HTML)", tag: "pages", authenticated: false,
                  responses: [(200, "HTML page", nil)], errors: []),
        Operation(method: "post", path: "/verify-email", summary: "Email verification form (HTML)", tag: "pages", authenticated: false,
                  requestSchema: "VerifyEmailForm", requestContentType: "application/x-www-form-urlencoded",
                  responses: [(200, "HTML page", nil)], errors: []),
    ]

    /// A member attribute's value: an enum's string, or a boolean.
    static var attributeValue: [String: Any] { ["type": ["string", "boolean"]] }

    static var schemas: [String: Any] { [
        "Status": object(["status": ["type": "string"]], required: ["status"]),
        "Problem": object([
            "type": ["type": "string"], "title": ["type": "string"], "status": ["type": "integer"],
            "detail": ["type": "string"], "code": ["type": "string", "enum": ProblemCode.allCases.map(\.rawValue)],
            "request_id": ["type": "string"], "invitation_id": uuid,
            "errors": ["type": "array", "items": object(["field": ["type": "string"], "message": ["type": "string"]], required: ["field", "message"])],
        ], required: ["type", "title", "status", "detail", "code"]),
        "Account": object([
            "id": uuid, "email": ["type": "string"], "name": ["type": "string"],
            "email_verified": ["type": "boolean"], "is_platform_admin": ["type": "boolean"],
            "created_at": ["type": ["string", "null"], "format": "date-time"],
        ], required: ["id", "email", "name", "email_verified", "is_platform_admin"]),
        "Session": object([
            "token": ["type": "string"], "expires_at": ["type": "string", "format": "date-time"],
            "account": ["$ref": "#/components/schemas/Account"],
        ], required: ["token", "expires_at", "account"]),
        "CreateAccountRequest": object([
            "email": ["type": "string", "format": "email"], "name": displayName,
            "password": ["type": "string", "minLength": AccountRules.minimumPasswordLength],
        ], required: ["email", "name", "password"]),
        "VerifyEmailRequest": object(["token": ["type": "string"]], required: ["token"]),
        "PasswordResetRequest": object(["email": ["type": "string", "format": "email"]], required: ["email"]),
        "ConfirmPasswordResetRequest": object(["token": ["type": "string"], "password": ["type": "string", "minLength": AccountRules.minimumPasswordLength]],
                                              required: ["token", "password"]),
        // A web form: the page answers whatever it holds (an unknown or missing token is a page that says so).
        "VerifyEmailForm": ["type": "object", "properties": ["token": ["type": "string"]]],
        "CreateSessionRequest": object(["email": ["type": "string", "format": "email"], "password": ["type": "string"]], required: ["email", "password"]),
        "UpdateMeRequest": object([
            "name": displayName, "password": ["type": "string", "minLength": AccountRules.minimumPasswordLength],
            "current_password": ["type": "string"],
        ], required: []),
        "DeleteMeRequest": object(["password": ["type": "string"]], required: ["password"]),
        "ChangeEmailRequest": object(["email": ["type": "string", "format": "email"], "current_password": ["type": "string"]],
                                     required: ["email", "current_password"]),
        "Settings": object([
            "join_policy": ["type": "string", "enum": JoinPolicy.allCases.map(\.rawValue)],
            "add_policy": ["type": "string", "enum": AddPolicy.allCases.map(\.rawValue)],
            "invitation_ttl_days": ["type": "integer", "minimum": 0, "maximum": 90],
            "seat_limit": ["type": ["integer", "null"], "minimum": 1, "maximum": 10_000_000],
        ], required: []),
        "Organization": object([
            "id": uuid, "name": string, "slug": string, "description": string, "settings": ref("Settings"),
            "role": nullableString, "created_at": ["type": ["string", "null"], "format": "date-time"],
        ], required: ["id", "name", "slug", "description", "settings"]),
        "OrganizationPage": page("Organization"),
        "CreateOrganizationRequest": object(["name": displayName, "slug": slug, "description": string, "settings": ref("Settings")], required: ["name"]),
        "UpdateOrganizationRequest": object(["name": displayName, "slug": slug, "description": string, "settings": ref("Settings")], required: []),
        "Role": object(["key": string, "name": string, "rank": ["type": "integer"],
                        "permissions": ["type": "array", "items": ["type": "string", "enum": Permission.allCases.map(\.rawValue)]]],
                       required: ["key", "name", "rank", "permissions"]),
        "Roles": object(["org_roles": ["type": "array", "items": ref("Role")], "space_roles": ["type": "array", "items": ref("Role")]],
                        required: ["org_roles", "space_roles"]),
        "PutRoleRequest": object(["name": string, "rank": ["type": "integer"], "permissions": ["type": "array", "items": string]],
                                 required: ["name", "rank", "permissions"]),
        "Membership": object([
            "id": uuid, "org_id": uuid, "space_id": nullableUUID, "account_id": nullableUUID, "email": string, "name": nullableString,
            "role": string, "status": ["type": "string", "enum": MembershipStatus.allCases.map(\.rawValue)],
            "source": ["type": "string", "enum": MembershipSource.allCases.map(\.rawValue)],
            "external_id": nullableString, "attributes": ["type": "object", "additionalProperties": attributeValue],
            "invited_by": nullableUUID, "invite_link_id": nullableUUID, "message": string,
            "delivery": ["oneOf": [["type": "null"], object(["status": string, "last_error": nullableString,
                                                                     "scheduled_at": ["type": "string", "format": "date-time"]], required: ["status"])]],
            "expires_at": ["type": ["string", "null"], "format": "date-time"],
            "created_at": ["type": "string", "format": "date-time"], "updated_at": ["type": "string", "format": "date-time"],
        ], required: ["id", "org_id", "email", "role", "status", "source", "attributes", "created_at", "updated_at"]),
        "MembershipPage": page("Membership"),
        "InviteMemberRequest": object(["email": ["type": "string", "format": "email"], "role": string, "name": memberName, "external_id": string,
                                       "attributes": ["type": "object", "additionalProperties": attributeValue]], required: ["email"]),
        "UpdateMemberRequest": object(["role": string, "external_id": nullableString,
                                       "attributes": ["type": "object", "additionalProperties": attributeValue]], required: []),
        "JoinRequestBody": object(["message": string], required: []),
        "ApproveRequestBody": object(["role": string], required: []),
        "InvitationPreview": object([
            "organization": object(["id": uuid, "name": string, "slug": string], required: ["id", "name", "slug"]),
            "space": ["type": ["object", "null"]], "email": string,
            "role": object(["key": string, "name": string], required: ["key", "name"]),
            "inviter_name": nullableString, "status": string, "expires_at": ["type": ["string", "null"], "format": "date-time"],
        ], required: ["organization", "email", "role", "status"]),
        "MyMembership": object([
            "membership": ref("Membership"),
            "organization": object(["id": uuid, "name": string, "slug": string], required: ["id", "name", "slug"]),
        ], required: ["membership", "organization"]),
        "MyMemberships": page("MyMembership"),
        "AuditEvent": object([
            "id": uuid, "at": ["type": "string", "format": "date-time"],
            "actor": object(["type": string, "id": nullableUUID], required: ["type"]), "action": string,
            "scope": object(["org_id": uuid, "space_id": nullableUUID], required: ["org_id"]),
            "target": object(["membership_id": nullableUUID, "account_id": nullableUUID, "email": nullableString], required: []),
            "before": ["type": ["object", "null"]], "after": ["type": ["object", "null"]], "request_id": nullableString,
        ], required: ["id", "at", "actor", "action", "scope", "target"]),
        "AuditPage": page("AuditEvent"),
        "EventMembership": object([
            "id": nullableUUID, "org_id": uuid, "space_id": nullableUUID, "account_id": nullableUUID, "email": nullableString,
            "role": nullableString, "status": nullableString, "source": nullableString, "external_id": nullableString,
            "attributes": ["type": ["object", "null"], "additionalProperties": attributeValue],
        ], required: ["org_id"]),
        "Event": object([
            "id": uuid, "sequence": ["type": "integer", "minimum": 1], "type": ["type": "string", "enum": EventCatalogue.types],
            "timestamp": ["type": "string", "format": "date-time"], "org_id": uuid, "space_id": nullableUUID,
            "actor": object(["type": string, "id": nullableUUID], required: ["type"]),
            "data": object(["membership": ref("EventMembership"), "previous": ref("EventMembership"),
                            "before": ["type": "object"], "after": ["type": "object"]], required: []),
        ], required: ["id", "sequence", "type", "timestamp", "org_id", "actor", "data"]),
        "CreateInviteLinkRequest": object([
            "role": ["type": "string"], "max_uses": ["type": "integer", "minimum": 1, "maximum": InviteLinkRules.maximumUses],
            "expires_at": ["type": "string", "format": "date-time"],
            "allowed_email_domains": ["type": "array", "maxItems": InviteLinkRules.maximumDomains, "items": string],
            "requires_approval": ["type": "boolean"],
        ], required: []),
        "InviteLink": object([
            "id": uuid, "url": string, "role": string, "max_uses": ["type": ["integer", "null"]], "uses": ["type": "integer"],
            "expires_at": ["type": ["string", "null"], "format": "date-time"], "allowed_email_domains": ["type": "array", "items": string],
            "requires_approval": ["type": "boolean"], "state": ["type": "string", "enum": ["usable", "expired", "exhausted", "revoked"]],
            "created_at": ["type": "string", "format": "date-time"], "revoked_at": ["type": ["string", "null"], "format": "date-time"],
        ], required: ["id", "role", "max_uses", "uses", "expires_at", "allowed_email_domains", "requires_approval", "state", "created_at", "revoked_at"]),
        "InviteLinkPage": page("InviteLink"),
        "InviteLinkPreview": object([
            "organization": string, "space": nullableString, "role": string, "requires_approval": ["type": "boolean"],
            "allowed_email_domains": ["type": "array", "items": string],
            "state": ["type": "string", "enum": ["usable", "expired", "exhausted", "revoked"]],
        ], required: ["organization", "role", "requires_approval", "allowed_email_domains", "state"]),
        "CreateOrgAPIKeyRequest": object([
            "name": ["type": "string", "minLength": 1, "maxLength": 100],
            "permissions": ["type": "array", "minItems": 1, "items": ["type": "string", "enum": Permission.allCases.map(\.rawValue)]],
            "spaces": ["type": "array", "minItems": 1, "items": uuid],
        ], required: ["name", "permissions"]),
        "OrgAPIKey": object([
            "id": uuid, "name": string, "prefix": string,
            "permissions": ["type": "array", "items": ["type": "string", "enum": Permission.allCases.map(\.rawValue)]],
            "spaces": ["type": ["array", "null"], "items": uuid], "key": ["type": "string", "pattern": "^rk_"],
            "created_at": ["type": ["string", "null"], "format": "date-time"], "last_used_at": ["type": ["string", "null"], "format": "date-time"],
            "revoked_at": ["type": ["string", "null"], "format": "date-time"],
        ], required: ["id", "name", "prefix", "permissions", "spaces", "created_at", "last_used_at", "revoked_at"]),
        "AddDomainRequest": object([
            "domain": ["type": "string", "minLength": 1, "maxLength": 253], "policy": ["type": "string", "enum": DomainPolicy.allCases.map(\.rawValue)],
            "role": string,
        ], required: ["domain"]),
        "UpdateDomainRequest": object([
            "policy": ["type": "string", "enum": DomainPolicy.allCases.map(\.rawValue)], "role": string,
        ], required: []),
        "Domain": object([
            "id": uuid, "domain": string, "status": ["type": "string", "enum": ["pending", "verified"]],
            "policy": ["type": "string", "enum": DomainPolicy.allCases.map(\.rawValue)], "role": nullableString,
            "verification": object(["type": string, "name": string, "value": string], required: ["type", "name", "value"]),
            "verified_at": ["type": ["string", "null"], "format": "date-time"], "checked_at": ["type": ["string", "null"], "format": "date-time"],
            "check_result": nullableString, "created_at": ["type": "string", "format": "date-time"],
        ], required: ["id", "domain", "status", "policy", "role", "verification", "verified_at", "checked_at", "check_result", "created_at"]),
        "DomainList": object(["items": ["type": "array", "items": ref("Domain")]], required: ["items"]),
        "DomainSuggestionList": object(["items": ["type": "array", "items": object([
            "organization": object(["id": uuid, "name": string, "slug": string], required: ["id", "name", "slug"]),
            "domain": string, "policy": string, "can_request": ["type": "boolean"],
        ], required: ["organization", "domain", "policy", "can_request"])]], required: ["items"]),
        "OrgAPIKeyList": object(["items": ["type": "array", "items": ref("OrgAPIKey")]], required: ["items"]),
        "CreateWebhookRequest": object([
            "url": ["type": "string", "minLength": 1, "maxLength": WebhookRules.maximumURLLength],
            "event_types": ["type": "array", "minItems": 1, "items": string], "description": ["type": "string", "maxLength": 500],
            "enabled": ["type": "boolean"],
        ], required: ["url"]),
        "UpdateWebhookRequest": object([
            "url": ["type": "string", "minLength": 1, "maxLength": WebhookRules.maximumURLLength],
            "event_types": ["type": ["array", "null"], "minItems": 1, "items": string], "description": ["type": "string", "maxLength": 500],
            "enabled": ["type": "boolean"],
        ], required: []),
        "RotateWebhookSecretRequest": object(["grace_hours": ["type": "integer", "minimum": 0, "maximum": WebhookRules.maximumGraceHours]], required: []),
        "Webhook": object([
            "id": uuid, "url": string, "description": string, "event_types": ["type": ["array", "null"], "items": string],
            "enabled": ["type": "boolean"], "disabled_reason": ["type": ["string", "null"], "enum": ["gone", "failing", NSNull()]],
            "failing_since": ["type": ["string", "null"], "format": "date-time"], "next_attempt_at": ["type": ["string", "null"], "format": "date-time"],
            "secret": ["type": "string", "pattern": "^whsec_"],
            "created_at": ["type": "string", "format": "date-time"], "updated_at": ["type": "string", "format": "date-time"],
        ], required: ["id", "url", "description", "event_types", "enabled", "disabled_reason", "failing_since", "next_attempt_at", "created_at", "updated_at"]),
        "WebhookList": object(["items": ["type": "array", "items": ref("Webhook")]], required: ["items"]),
        "WebhookDelivery": object([
            "id": uuid, "event_id": uuid, "event_type": string, "sequence": ["type": "integer"], "attempt": ["type": "integer", "minimum": 1],
            "status": ["type": "string", "enum": ["pending", "sending", "delivered", "failed"]], "response_status": ["type": ["integer", "null"]],
            "duration_ms": ["type": ["integer", "null"]], "error": nullableString, "redelivery": ["type": "boolean"],
            "at": ["type": "string", "format": "date-time"],
        ], required: ["id", "event_id", "event_type", "sequence", "attempt", "status", "response_status", "duration_ms", "error", "redelivery", "at"]),
        "WebhookDeliveryPage": page("WebhookDelivery"),
        "EventPage": object(["items": ["type": "array", "items": ref("Event")], "next_after": ["type": "integer", "minimum": 0],
                             "has_more": ["type": "boolean"]], required: ["items", "next_after", "has_more"]),
        "AttributeDefinition": object(["key": string, "type": ["type": "string", "enum": ["enum", "boolean"]],
                                       "values": ["type": "array", "items": string], "default": attributeValue], required: ["key", "type"]),
        "SpaceSettings": object([
            "join_policy": ["type": "string", "enum": JoinPolicy.allCases.map(\.rawValue)],
            "add_policy": ["type": "string", "enum": AddPolicy.allCases.map(\.rawValue)],
            "seat_limit": ["type": ["integer", "null"], "minimum": 1, "maximum": 10_000_000],
        ], required: []),
        "Space": object([
            "id": uuid, "org_id": uuid, "name": string, "slug": string, "kind": string, "settings": ref("SpaceSettings"),
            "attributes": ["type": "array", "items": ref("AttributeDefinition")],
            "created_at": ["type": ["string", "null"], "format": "date-time"],
        ], required: ["id", "org_id", "name", "slug", "kind", "settings", "attributes"]),
        "SpacePage": page("Space"),
        "SpaceRequest": object(["name": displayName, "slug": slug, "kind": string, "settings": ref("SpaceSettings"),
                                "attributes": ["type": "array", "items": ref("AttributeDefinition")]], required: []),
        "ResendRequest": object(["email": string], required: []),
        "CSVFile": ["type": "string", "description": "UTF-8 CSV with a header row: email, name, role, external_id, attribute columns"],
        "ImportReport": object([
            "id": uuid,
            "dry_run": ["type": "boolean"],
            "summary": object(["rows": ["type": "integer"], "invited": ["type": "integer"], "added": ["type": "integer"],
                               "already_invited": ["type": "integer"], "already_member": ["type": "integer"], "updated": ["type": "integer"],
                               "failed": ["type": "integer"], "failed_to_send": ["type": "integer"]], required: []),
            "rows": ["type": "array", "items": object([
                "line": ["type": "integer"], "email": string, "name": nullableString, "role": nullableString, "external_id": nullableString,
                "attributes": ["type": "object", "additionalProperties": attributeValue],
                "outcome": ["type": "string", "enum": ["invited", "added", "already_invited", "already_member", "failed", "failed_to_send"]],
                "updated": ["type": "boolean"], "previous_external_id": nullableString, "reason": nullableString,
            ], required: ["line", "email", "outcome", "updated"])],
            "sync": object([
                "live": ["type": "integer"], "change_threshold": ["type": "integer"], "exceeded": ["type": "boolean"],
                "removed": ["type": "array", "items": ref("SyncRow")], "revoked": ["type": "array", "items": ref("SyncRow")],
                "kept": ["type": "array", "items": ref("SyncRow")],
            ], required: ["live", "change_threshold", "exceeded", "removed", "revoked", "kept"]),
        ], required: ["dry_run", "summary", "rows"]),
        "SyncRow": object([
            "id": uuid, "email": string, "role": string, "status": ["type": "string", "enum": MembershipStatus.allCases.map(\.rawValue)],
            "external_id": nullableString,
            "reason": ["type": "string", "enum": ["not_in_file", "owner", "importer", "join_request", "not_permitted"]],
        ], required: ["id", "email", "role", "status", "reason"]),
        "AuthorizeRequest": object(["account_id": uuid, "org": string, "space": string,
                                    "permission": ["type": "string", "enum": Permission.allCases.map(\.rawValue)]],
                                   required: ["account_id", "permission"]),
        "AuthorizeResponse": object(["allowed": ["type": "boolean"], "role": nullableString], required: ["allowed", "role"]),

    ] }

    static var uuid: [String: Any] { ["type": "string", "format": "uuid"] }
    static var nullableUUID: [String: Any] { ["type": ["string", "null"], "format": "uuid"] }
    static var string: [String: Any] { ["type": "string"] }
    /// A display name (an account's, an organization's, a space's): 1–200 characters once trimmed, without control
    /// characters or line breaks.
    static var displayName: [String: Any] {
        ["type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\(refusedInNames)]*[^\\s\(refusedInNames)][^\(refusedInNames)]*$"]
    }
    /// A member's name on an invitation: a display name, or empty (no name).
    static var memberName: [String: Any] { ["type": "string", "maxLength": 200, "pattern": "^[^\(refusedInNames)]*$"] }
    /// Controls, line and paragraph separators and format characters (`AccountRules.hasControlCharacters`, the BMP's).
    static let refusedInNames = #"\x00-\x1F\x7F-\x9F\xAD\u0600-\u0605\u061C\u06DD\u070F\u180E\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB"#
    /// An organization's or space's slug (letters are taken in either case and stored in lower case).
    static var slug: [String: Any] { ["type": "string", "minLength": 2, "maxLength": 48, "pattern": "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"] }
    static var nullableString: [String: Any] { ["type": ["string", "null"]] }
    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
    static func page(_ item: String) -> [String: Any] {
        object(["items": ["type": "array", "items": ref(item)], "next_cursor": nullableString], required: ["items", "next_cursor"])
    }

    static func object(_ properties: [String: Any], required: [String]) -> [String: Any] {
        ["type": "object", "properties": properties, "required": required, "additionalProperties": false]
    }

    /// The query parameters, typed as the routes check them (a value outside them is 422).
    static var queryParameters: [String: [String: Any]] { [
        "limit": ["type": "integer", "minimum": 1, "maximum": 200],
        "cursor": ["type": "string"],
        "after": ["type": "integer", "minimum": 0],
        "mode": ["type": "string", "enum": ["import", "sync"]],
        "change_threshold": ["type": "integer", "minimum": 0, "maximum": 100],
        "types": ["type": "string", "description": "Comma-separated event types, or prefixes such as `membership.*`"],
        "dry_run": ["type": "boolean"],
        "status": ["type": "string", "enum": MembershipStatus.allCases.map(\.rawValue)],
        "source": ["type": "string", "enum": MembershipSource.allCases.map(\.rawValue)],
        "role": ["type": "string"],
        "invite_link": ["type": "string", "format": "uuid", "description": "Only rows that came through this invite link"],
        "q": ["type": "string", "maxLength": 200],
    ] }

    /// `schemas` with each optional field of a request body (`…Request`, and the settings objects they hold) also
    /// taking `null`: a request body reads an optional field given as `null` as not given (and `external_id: null` as
    /// clearing it).
    static func withOptionalRequestFieldsNullable(_ schemas: [String: Any]) -> [String: Any] {
        var result = schemas
        for (name, schema) in schemas where name.hasSuffix("Request") || name.hasSuffix("Settings") {
            guard var object = schema as? [String: Any], let properties = object["properties"] as? [String: Any] else { continue }
            let required = Set(object["required"] as? [String] ?? [])
            object["properties"] = Dictionary(uniqueKeysWithValues: properties.map { key, property in
                (key, required.contains(key) ? property : ["anyOf": [property, ["type": "null"]]] as [String: Any])
            })
            result[name] = object
        }
        return result
    }

    /// The document as a JSON-compatible dictionary.
    static var document: [String: Any] {
        var paths: [String: [String: Any]] = [:]
        for op in operations {
            var responses: [String: Any] = [:]
            for (status, description, schema) in op.responses {
                var response: [String: Any] = ["description": description]
                if let schema {
                    response["content"] = ["application/json": ["schema": ["$ref": "#/components/schemas/\(schema)"]]]
                } else if description == "CSV file" {
                    response["content"] = ["text/csv": ["schema": ["type": "string"]]]
                } else if description == "Metrics" {
                    response["content"] = ["text/plain": ["schema": ["type": "string"]]]
                } else if description == "HTML page" {
                    response["content"] = ["text/html": ["schema": ["type": "string"]]]
                } else if op.path == "/openapi.json" {
                    response["content"] = ["application/json": ["schema": ["type": "object"]]]
                }
                if (200..<300).contains(status), let links = op.links { response["links"] = links }
                responses[String(status)] = response
            }
            for status in op.errors {
                responses[String(status)] = ["$ref": "#/components/responses/Problem"]
            }
            var operation: [String: Any] = [
                "summary": op.summary, "tags": [op.tag], "responses": responses,
                "operationId": op.operationID, "description": op.description,
            ]
            if op.authenticated { operation["security"] = [["bearer": [String]()]] } else { operation["security"] = [[String: [String]]]() }
            if let schema = op.requestSchema {
                var content: [String: Any] = [op.requestContentType: ["schema": ["$ref": "#/components/schemas/\(schema)"]]]
                if op.requestContentType == "text/csv" {
                    content["multipart/form-data"] = ["schema": object(["file": ["type": "string", "contentMediaType": "text/csv"]], required: ["file"])]
                }
                // An empty JSON body reads as `{}`: a body is required only where its schema requires a field.
                let requiresField = !(((schemas[schema] as? [String: Any])?["required"] as? [String]) ?? []).isEmpty
                operation["requestBody"] = ["required": op.requestContentType == "application/json" && requiresField, "content": content]
            }
            var parameters: [[String: Any]] = op.path.split(separator: "/").filter { $0.hasPrefix("{") }.map {
                ["name": String($0.dropFirst().dropLast()), "in": "path", "required": true, "schema": ["type": "string"]] as [String: Any]
            }
            for name in op.query {
                parameters.append(["name": name, "in": "query", "required": false, "schema": queryParameters[name] ?? string])
            }
            if !parameters.isEmpty { operation["parameters"] = parameters }
            paths[op.path, default: [:]][op.method] = operation
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "Roster", "version": "1.0.0",
                     "description": "Organizations, memberships and invitations, with consent."],
            "paths": paths,
            "components": [
                "schemas": withOptionalRequestFieldsNullable(schemas),
                "responses": ["Problem": [
                    "description": "An RFC 9457 problem with a stable code",
                    "content": ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]],
                ]],
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer",
                                               "description": "A session token, or a platform API key starting rk_"]],
            ],
        ]
    }

    /// The serialized document, built once.
    static let json: Data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
}

/// The API's published description, for tools and tests outside this module.
public enum RosterAPI {
    /// The OpenAPI 3.1 document `GET /openapi.json` serves.
    public static var openAPIDocument: Data { OpenAPIDocument.json }
}

import Foundation
import Testing
import Vapor
@testable import RosterApp
import RosterTesting

/// The web pages' protections, without a browser (the browser tests in browser-tests/ drive the flows).
@Suite struct WebPagesTests {
    func form(_ fields: [String: String], cookie: String? = nil) -> (Data, HTTPHeaders) {
        var headers = HTTPHeaders()
        headers.contentType = .urlEncodedForm
        if let cookie { headers.replaceOrAdd(name: .cookie, value: cookie) }
        let body = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        return (Data(body.utf8), headers)
    }

    /// The form token a signed-in page hands out (read from the page, as a browser would).
    func formToken(_ t: TestApp, cookie: String) async throws -> String {
        var headers = HTTPHeaders()
        headers.replaceOrAdd(name: .cookie, value: cookie)
        let page = try await t.send(.GET, "/", headers: headers)
        guard let range = page.text.range(of: #"name="_csrf" value="[^"]+""#, options: .regularExpression) else {
            throw TestFailure("no form token on the home page: \(page.status)")
        }
        return String(page.text[range].dropFirst(#"name="_csrf" value=""#.count).dropLast())
    }

    /// Issue 13, point 3: signed in, the form token comes from the session: a `roster_csrf` cookie planted from a
    /// sibling domain (with the same value in the form) is refused, and nothing is created.
    @Test(arguments: TestBackend.available)
    func aPlantedCSRFCookieIsUseless(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            let (planted, plantedHeaders) = form(["_csrf": "planted", "name": "Forged Org"], cookie: "roster_session=\(owner); roster_csrf=planted")
            #expect(try await t.send(.POST, "/orgs", body: planted, headers: plantedHeaders).status == .forbidden)
            let orgs = try await t.send(.GET, "/v1/orgs", token: owner)
            #expect((orgs.json["items"] as? [Any])?.isEmpty == true, "nothing was created")
            let token = try await formToken(t, cookie: "roster_session=\(owner); roster_csrf=planted")
            #expect(token != "planted")
            let (real, realHeaders) = form(["_csrf": token, "name": "Real Org"], cookie: "roster_session=\(owner); roster_csrf=planted")
            #expect(try await t.send(.POST, "/orgs", body: real, headers: realHeaders).status == .seeOther)
            #expect((try await t.send(.GET, "/v1/orgs", token: owner).json["items"] as? [Any])?.count == 1)
        }
    }

    @Test func aFormPostWithoutTheCSRFTokenIsRefusedAndChangesNothing() async throws {
        try await TestApp.with(.sqlite) { t in
            // No token, no cookie.
            let (plain, plainHeaders) = form(["name": "Mallory", "email": "mallory@example.com", "password": "long enough password"])
            let refused = try await t.send(.POST, "/signup", body: plain, headers: plainHeaders)
            #expect(refused.status == .forbidden)
            #expect(refused.text.contains("Reload the page"))
            // A token that does not match the cookie (another site cannot read the cookie).
            let (forged, forgedHeaders) = form(["name": "Mallory", "email": "mallory@example.com", "password": "long enough password", "_csrf": "guess"],
                                               cookie: "roster_csrf=the-real-one")
            #expect(try await t.send(.POST, "/signup", body: forged, headers: forgedHeaders).status == .forbidden)
            #expect(try await t.send(.POST, "/v1/sessions", json: ["email": "mallory@example.com", "password": "long enough password"]).code == "invalid_credentials",
                    "no account was created")

            // The same form with the cookie's token goes through and signs in with an HttpOnly, SameSite=Lax cookie.
            let (good, goodHeaders) = form(["name": "Ada", "email": "ada@example.com", "password": "long enough password", "_csrf": "tok"],
                                           cookie: "roster_csrf=tok")
            let accepted = try await t.send(.POST, "/signup", body: good, headers: goodHeaders)
            #expect(accepted.status == .seeOther)
            let session = try #require(accepted.headers[.setCookie].first { $0.hasPrefix("roster_session=") })
            #expect(session.contains("HttpOnly") && session.contains("SameSite=Lax"))
        }
    }

    @Test func pagesNeedASessionAndUnknownInvitationLinksSaySo() async throws {
        try await TestApp.with(.sqlite) { t in
            let home = try await t.send(.GET, "/")
            #expect(home.status == .seeOther)
            #expect(home.headers.first(name: .location)?.hasPrefix("/signin?next=") == true)
            let link = try await t.send(.GET, "/i/not-a-token")
            #expect(link.status == .ok)
            #expect(link.text.contains("This invitation is not available"))
            // Pages cannot be framed or sniffed, and an invitation link's token never leaves in a Referer.
            for page in [home, link] {
                #expect(page.headers.first(name: "X-Frame-Options") == "DENY")
                #expect(page.headers.first(name: "Content-Security-Policy") == "frame-ancestors 'none'")
                #expect(page.headers.first(name: "X-Content-Type-Options") == "nosniff")
                #expect(page.headers.first(name: "Referrer-Policy") == "same-origin")
            }
        }
    }

    /// Issue 13, point 1: a form post is judged before its body is read. A stranger's multipart body is refused
    /// (415) without being parsed; a signed-in route without a session goes to sign-in; an upload with too many
    /// parts is refused before its form is parsed; an import upload checks the token in its URL first.
    @Test(arguments: TestBackend.available)
    func formBodiesAreJudgedBeforeTheyAreRead(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            func multipart(parts: Int, cookie: String) -> (Data, HTTPHeaders) {
                var body = ""
                for n in 0..<parts { body += "--B\r\nContent-Disposition: form-data; name=\"f\(n)\"\r\n\r\nx\r\n" }
                body += "--B--\r\n"
                var headers = HTTPHeaders()
                headers.replaceOrAdd(name: .contentType, value: "multipart/form-data; boundary=B")
                headers.replaceOrAdd(name: .cookie, value: cookie)
                return (Data(body.utf8), headers)
            }
            let (many, manyHeaders) = multipart(parts: 20_000, cookie: "roster_csrf=tok")
            let signup = try await t.send(.POST, "/signup", body: many, headers: manyHeaders)
            #expect(signup.status == .unsupportedMediaType)
            let (plain, plainHeaders) = form(["_csrf": "tok", "name": "Acme"], cookie: "roster_csrf=tok")
            let orgs = try await t.send(.POST, "/orgs", body: plain, headers: plainHeaders)
            #expect(orgs.status == .seeOther && orgs.headers.first(name: .location)?.hasPrefix("/signin") == true)
            let (noCookie, noCookieHeaders) = form(["_csrf": "tok", "email": "a@example.com", "password": "long enough password"])
            #expect(try await t.send(.POST, "/signin", body: noCookie, headers: noCookieHeaders).status == .forbidden)

            let owner = try await t.verifiedPerson("owner@example.com")
            let org = try await t.createOrg(owner, slug: "acme")
            _ = org
            let session = "roster_session=\(owner); roster_csrf=tok"
            var (upload, uploadHeaders) = multipart(parts: 20_000, cookie: session)
            uploadHeaders.replaceOrAdd(name: .origin, value: "http://roster.test")
            let tooMany = try await t.send(.POST, "/orgs/acme/import", body: upload, headers: uploadHeaders)
            #expect(tooMany.status == .unprocessableEntity, "\(tooMany.status)")
            // An upload from another site's page is refused before its body is read.
            var (small, smallHeaders) = multipart(parts: 2, cookie: session)
            #expect(try await t.send(.POST, "/orgs/acme/import", body: small, headers: smallHeaders).status == .forbidden, "no origin")
            smallHeaders.replaceOrAdd(name: .origin, value: "https://evil.example")
            #expect(try await t.send(.POST, "/orgs/acme/import", body: small, headers: smallHeaders).status == .forbidden)
            // Only the two upload routes take multipart: a member action does not parse it.
            let (action, actionHeaders) = multipart(parts: 20_000, cookie: session)
            let memberAction = try await t.send(.POST, "/orgs/acme/members/\(UUID())/import", body: action, headers: actionHeaders)
            #expect(memberAction.status == .unsupportedMediaType)
            // The API's upload authenticates and authorizes before reading: a stranger's body is never read.
            let stranger = try await t.send(.POST, "/v1/orgs/acme/imports", body: many, headers: ["Content-Type": "multipart/form-data; boundary=B"])
            #expect(stranger.status == .unauthorized)
            var apiHeaders = HTTPHeaders()
            apiHeaders.replaceOrAdd(name: .contentType, value: "multipart/form-data; boundary=B")
            let api = try await t.send(.POST, "/v1/orgs/acme/imports", token: owner, body: many, headers: apiHeaders)
            #expect(api.status == .unprocessableEntity && api.code == "validation_failed", "\(api.text.prefix(200))")
        }
    }

    /// Issue 15: owners add a webhook endpoint on the web, see its secret once, and disable, rotate and delete it.
    @Test func ownersManageWebhooksOnTheirPage() async throws {
        try await TestApp.with(.sqlite, configuring: { $0.webhookAllowPrivate = true }) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            _ = try await t.createOrg(owner, slug: "acme")
            let cookie = "roster_session=\(owner); roster_csrf=browser"
            let token = try await formToken(t, cookie: cookie)
            var page = HTTPHeaders()
            page.replaceOrAdd(name: .cookie, value: cookie)
            #expect(try await t.send(.GET, "/orgs/acme", headers: page).text.contains(#"id="webhooks-link""#))
            let empty = try await t.send(.GET, "/orgs/acme/webhooks", headers: page)
            #expect(empty.status == .ok && empty.text.contains("No endpoint yet"))

            var (body, headers) = form(["_csrf": token, "url": "http://127.0.0.1:9/hook", "description": "CRM"], cookie: cookie)
            body += Data("&event_types%5B%5D=membership.invited&event_types%5B%5D=membership.removed".utf8)
            let created = try await t.send(.POST, "/orgs/acme/webhooks", body: body, headers: headers)
            #expect(created.status == .ok && created.text.contains(#"<code id="secret">whsec_"#), "the secret, once")
            #expect(created.text.contains("membership.invited, membership.removed"))
            let again = try await t.send(.GET, "/orgs/acme/webhooks", headers: page)
            #expect(!again.text.contains("whsec_") && again.text.contains("http://127.0.0.1:9/hook"))
            let id = try #require(again.text.range(of: #"endpoint-[0-9a-f-]{36}"#, options: .regularExpression).map { String(again.text[$0].dropFirst(9)) })

            let (plain, plainHeaders) = form(["_csrf": token], cookie: cookie)
            #expect(try await t.send(.POST, "/orgs/acme/webhooks/\(id)/disable", body: plain, headers: plainHeaders).status == .seeOther)
            #expect(try await t.send(.GET, "/orgs/acme/webhooks", headers: page).text.contains("<strong>disabled</strong>"))
            let rotated = try await t.send(.POST, "/orgs/acme/webhooks/\(id)/rotate", body: plain, headers: plainHeaders)
            #expect(rotated.text.contains(#"<code id="secret">whsec_"#))
            let (forged, forgedHeaders) = form(["_csrf": "guess"], cookie: cookie)
            #expect(try await t.send(.POST, "/orgs/acme/webhooks/\(id)/delete", body: forged, headers: forgedHeaders).status == .forbidden)
            #expect(try await t.send(.POST, "/orgs/acme/webhooks/\(id)/delete", body: plain, headers: plainHeaders).status == .seeOther)
            #expect(try await t.send(.GET, "/orgs/acme/webhooks", headers: page).text.contains("No endpoint yet"))

            // An admin sees neither the link nor the page.
            let admin = try await t.addMember(owner: owner, org: "acme", email: "admin@example.com", role: "admin").token
            var adminPage = HTTPHeaders()
            adminPage.replaceOrAdd(name: .cookie, value: "roster_session=\(admin); roster_csrf=browser")
            #expect(try await t.send(.GET, "/orgs/acme/webhooks", headers: adminPage).status == .forbidden)
            #expect(!(try await t.send(.GET, "/orgs/acme", headers: adminPage).text.contains("webhooks-link")))
        }
    }

    /// Issue 15: owners create an organization API key on the web (shown once), see its last use, and revoke it.
    @Test func ownersManageOrganizationKeysOnTheirPage() async throws {
        try await TestApp.with(.sqlite) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            _ = try await t.createOrg(owner, slug: "acme")
            let cookie = "roster_session=\(owner); roster_csrf=browser"
            let token = try await formToken(t, cookie: cookie)
            var page = HTTPHeaders()
            page.replaceOrAdd(name: .cookie, value: cookie)
            #expect(try await t.send(.GET, "/orgs/acme", headers: page).text.contains(#"id="api-keys-link""#))
            var (body, headers) = form(["_csrf": token, "name": "LMS sync"], cookie: cookie)
            body += Data("&permissions%5B%5D=scope.read&permissions%5B%5D=members.read".utf8)
            let created = try await t.send(.POST, "/orgs/acme/api-keys", body: body, headers: headers)
            let key = try #require(created.text.range(of: #"<code id="key">rk_[A-Za-z0-9_-]+"#, options: .regularExpression)
                .map { String(created.text[$0].dropFirst(#"<code id="key">"#.count)) })
            #expect(created.text.contains("members.read, scope.read") && created.text.contains("never"))
            #expect(try await t.send(.GET, "/v1/orgs/acme/members", token: key).status == .ok)
            // Its use is recorded beside the request (never holding it up): wait for it.
            var listed = try await t.send(.GET, "/orgs/acme/api-keys", headers: page)
            for _ in 0..<400 where listed.text.contains(">never<") {
                try await Task.sleep(for: .milliseconds(20))
                listed = try await t.send(.GET, "/orgs/acme/api-keys", headers: page)
            }
            #expect(!listed.text.contains(key) && !listed.text.contains(">never<"), "the key is not shown again; its use is")
            let id = try #require(listed.text.range(of: #"key-[0-9a-f-]{36}"#, options: .regularExpression).map { String(listed.text[$0].dropFirst(4)) })
            let (plain, plainHeaders) = form(["_csrf": token], cookie: cookie)
            #expect(try await t.send(.POST, "/orgs/acme/api-keys/\(id)/revoke", body: plain, headers: plainHeaders).status == .seeOther)
            #expect(try await t.send(.GET, "/v1/orgs/acme/members", token: key).status == .unauthorized)
            #expect(try await t.send(.GET, "/orgs/acme/api-keys", headers: page).text.contains("revoked"))
        }
    }

    /// Issue 13, point 3: behind https every cookie carries the `__Host-` prefix (secure, host-only, path `/`), and
    /// a cookie without it — as a sibling domain could set — is not read as a session.
    @Test func cookiesUseTheHostPrefixBehindHTTPS() async throws {
        try await TestApp.with(.sqlite, baseURL: "https://roster.example") { t in
            let signin = try await t.send(.GET, "/signin")
            let csrf = try #require(signin.headers[.setCookie].first { $0.hasPrefix("__Host-roster_csrf=") })
            #expect(csrf.contains("Secure") && csrf.contains("Path=/") && !csrf.lowercased().contains("domain="))
            let owner = try await t.verifiedPerson("owner@example.com")
            var plain = HTTPHeaders()
            plain.replaceOrAdd(name: .cookie, value: "roster_session=\(owner)")
            #expect(try await t.send(.GET, "/", headers: plain).status == .seeOther, "an unprefixed cookie is nobody's session")
            var prefixed = HTTPHeaders()
            prefixed.replaceOrAdd(name: .cookie, value: "__Host-roster_session=\(owner)")
            #expect(try await t.send(.GET, "/", headers: prefixed).status == .ok)
        }
    }

    /// A refused form comes back filled with what the person typed (once), with the refusal above it.
    @Test(arguments: TestBackend.available)
    func aRefusedInvitationKeepsWhatWasTyped(backend: TestBackend) async throws {
        try await TestApp.with(backend) { t in
            let owner = try await t.verifiedPerson("owner@example.com")
            _ = try await t.createOrg(owner, slug: "acme")
            // (A browser holds the form cookie every page sets.)
            let session = "roster_session=\(owner); roster_csrf=browser"
            let token = try await formToken(t, cookie: session)
            let typed = ["_csrf": token, "email": "ada@example.com", "role": "admin", "external_id": "E-1"]
            let (body, headers) = form(typed, cookie: session)
            #expect(try await t.send(.POST, "/orgs/acme/members", body: body, headers: headers).status == .seeOther)
            // The same invitation again is refused: the page shows why, and the form as it was sent.
            let refused = try await t.send(.POST, "/orgs/acme/members", body: body, headers: headers)
            let flash = try #require(refused.headers[.setCookie].first { $0.hasPrefix("roster_flash=") }?.split(separator: ";").first)
            var pageHeaders = HTTPHeaders()
            pageHeaders.replaceOrAdd(name: .cookie, value: "\(session); \(flash)")
            let back = try #require(refused.headers.first(name: .location))
            let page = try await t.send(.GET, back, headers: pageHeaders).text
            #expect(page.contains(#"name="email" required value="ada@example.com""#))
            #expect(page.contains(#"name="external_id" value="E-1""#))
            /// The invitation form's role choice.
            func roleChoice(_ page: String) -> Substring {
                guard let start = page.range(of: #"id="invite-role""#), let end = page[start.upperBound...].range(of: "</select>") else { return "" }
                return page[start.lowerBound..<end.lowerBound]
            }
            #expect(roleChoice(page).contains(#"<option value="admin" selected>"#))
            #expect(page.contains("flash-error"))
            // Once: the next page is empty again.
            let next = try await t.send(.GET, back, headers: HTTPHeaders([("Cookie", session)])).text
            #expect(next.contains(#"name="email" required value="""#))
            #expect(!roleChoice(next).contains("selected") && roleChoice(next).contains(#"<option value="admin">"#))
        }
    }

    /// Issue 13, point 1: a flash message is bounded, so a long refusal (a file's problems) still reaches the page.
    @Test func aLongMessageStillFitsInItsCookie() async throws {
        try await TestApp.with(.sqlite) { t in
            let request = Request(application: t.app, on: t.app.eventLoopGroup.next())
            let response = request.redirect(to: "/", error: String(repeating: "line 2: a quote appears inside an unquoted cell. ", count: 200))
            let cookie = try #require(response.headers[.setCookie].first { $0.hasPrefix("roster_flash=") })
            #expect(cookie.utf8.count < 4000)
            // Four bytes a character, with the fields of the refused form: the message still fits (without them).
            let wide = request.redirect(to: "/", error: String(repeating: "🚀", count: 2000), keeping: ["email": String(repeating: "a", count: 500)])
            let wideCookie = try #require(wide.headers[.setCookie].first { $0.hasPrefix("roster_flash=") })
            #expect(wideCookie.utf8.count < 4000)
        }
    }
}

import Foundation
import Testing
import Vapor
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
}

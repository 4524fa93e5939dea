import Vapor
import RosterCore
import RosterStore

/// Cookie sessions and CSRF protection for the web pages.
///
/// The session cookie holds the same kind of session token as the API's bearer tokens (`HttpOnly`,
/// `SameSite=Lax`, `Secure` when `ROSTER_BASE_URL` is https). Every form carries a `_csrf` field: signed in, it
/// must equal a one-way function of the session token (`formToken(session:)`), which another site can neither read
/// nor plant; signed out, it must equal the `roster_csrf` cookie (double submit).
struct WebSession: AsyncMiddleware {
    static let sessionCookie = "roster_session"
    static let csrfCookie = "roster_csrf"
    static let flashCookie = "roster_flash"

    /// A cookie's name as sent: behind https with the `__Host-` prefix, which browsers accept only from the exact
    /// host, secure and for path `/`, so no sibling subdomain can set or shadow it.
    static func name(_ name: String, on request: Request) -> String {
        request.application.roster.configuration.baseURL.hasPrefix("https:") ? "__Host-" + name : name
    }

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        var sessionToken: String?
        if let token = request.cookies[Self.name(Self.sessionCookie, on: request)]?.string,
           let (session, account) = try await AccountStore(request.db).session(tokenHash: Secret.hash(token), now: Date()),
           let id = session.id {
            request.principal = .account(account, sessionID: id)
            sessionToken = token
        }
        let csrf = request.cookies[Self.name(Self.csrfCookie, on: request)]?.string ?? Secret.generate()
        // Signed in, a form's token is derived from the session token, which no other site can read or plant: a
        // `roster_csrf` cookie planted from a sibling domain is useless. Signed out (sign-up, sign-in) it is the
        // double-submitted cookie.
        request.storage[CSRFKey.self] = sessionToken.map(Self.formToken(session:)) ?? csrf
        let response: Response
        do {
            if request.method != .GET && request.method != .HEAD { try Self.admitForm(request) }
            response = try await next.respond(to: request)
        } catch {
            response = try await WebPages.errorPage(error, on: request)
        }
        if request.cookies[Self.name(Self.csrfCookie, on: request)] == nil {
            response.cookies[Self.name(Self.csrfCookie, on: request)] = Self.cookie(csrf, on: request, maxAge: nil)
        }
        if request.cookies[Self.name(Self.flashCookie, on: request)] != nil, response.cookies[Self.name(Self.flashCookie, on: request)] == nil {
            response.cookies[Self.name(Self.flashCookie, on: request)] = Self.expired(on: request)
        }
        return response
    }

    /// Posts that need no session: signing up and in (the invitation link's answer redirects to sign-in itself).
    static func isAnonymousForm(_ path: String) -> Bool {
        ["/signup", "/signin", "/forgot-password", "/reset-password"].contains(path) || path.hasPrefix("/i/")
    }

    /// Checks a form post before its body is read (the route collects it only after the middleware): the CSRF cookie
    /// is there, the body is a URL-encoded form (multipart only for an import upload, which reads its own body after
    /// checking the session, the token and the permission), and a signed-in route has a live session. A stranger's
    /// multipart body is never parsed.
    static func admitForm(_ request: Request) throws {
        guard request.cookies[name(csrfCookie, on: request)]?.string.isEmpty == false else {
            throw RosterError(.forbidden, "This form expired or did not come from Roster. Reload the page and try again.")
        }
        let path = request.url.path
        let type = request.headers.contentType
        let upload = path.hasSuffix("/import")
        if upload ? !(type?.type == "multipart" && type?.subType == "form-data") : type != .urlEncodedForm {
            throw Abort(.unsupportedMediaType, reason: upload ? "Upload the file as a multipart form." : "Send the form URL-encoded.")
        }
        if request.principal == nil && !isAnonymousForm(path) {
            throw RosterError(.unauthenticated, "Sign in first.")
        }
    }

    /// A cookie with Roster's attributes.
    static func cookie(_ value: String, on request: Request, maxAge: Int?) -> HTTPCookies.Value {
        HTTPCookies.Value(string: value, maxAge: maxAge, path: "/", isSecure: request.application.roster.configuration.baseURL.hasPrefix("https:"),
                          isHTTPOnly: true, sameSite: .lax)
    }

    static func expired(on request: Request) -> HTTPCookies.Value {
        var value = cookie("", on: request, maxAge: 0)
        value.expires = Date(timeIntervalSince1970: 0)
        return value
    }

    /// The form token of a session: a one-way function of its secret token.
    static func formToken(session token: String) -> String { Secret.hash("roster-form:" + token) }

    private struct CSRFKey: StorageKey { typealias Value = String }
    static func csrfToken(_ request: Request) -> String { request.storage[CSRFKey.self] ?? "" }
}

extension Request {
    /// Refuses a form post whose `_csrf` field does not match the cookie (403, nothing done). An upload carries the
    /// token in its URL (`?_csrf=`), so it is checked before the body is read.
    func requireCSRF() throws {
        let sent = query[String.self, at: "_csrf"] ?? (try? content.get(String.self, at: "_csrf"))
        let expected = WebSession.csrfToken(self)
        guard let sent, !expected.isEmpty, Array(sent.utf8).count == Array(expected.utf8).count,
              zip(sent.utf8, expected.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw RosterError(.forbidden, "This form expired or did not come from Roster. Reload the page and try again.")
        }
    }

    /// The signed-in person, or nil.
    var webAccount: AccountModel? {
        if case .account(let account, _)? = principal { return account }
        return nil
    }

    /// A redirect after a form post (303), with a one-time message for the next page.
    func redirect(to path: String, notice: String? = nil, error: String? = nil) -> Response {
        let response = Response(status: .seeOther)
        response.headers.replaceOrAdd(name: .location, value: path)
        if let message = error.map({ "error:" + $0 }) ?? notice.map({ "notice:" + $0 }) {
            let encoded = Data(message.utf8).base64EncodedString()
            response.cookies[WebSession.name(WebSession.flashCookie, on: self)] = WebSession.cookie(encoded, on: self, maxAge: 60)
        }
        return response
    }

    /// The one-time message set by the previous redirect.
    var flash: (notice: String?, error: String?) {
        guard let raw = cookies[WebSession.name(WebSession.flashCookie, on: self)]?.string, let data = Data(base64Encoded: raw) else { return (nil, nil) }
        let text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("error:") { return (nil, String(text.dropFirst(6))) }
        if text.hasPrefix("notice:") { return (String(text.dropFirst(7)), nil) }
        return (nil, nil)
    }
}

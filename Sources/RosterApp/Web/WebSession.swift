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

    /// The two import uploads (`/orgs/{org}/import`, `/spaces/{space}/import`): the only forms sent as multipart.
    static func isUpload(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        return parts.count == 3 && (parts[0] == "orgs" || parts[0] == "spaces") && parts[2] == "import"
    }

    /// Posts that need no session: signing up and in, and the forgotten-password pages (the invitation link's answer
    /// redirects to sign-in itself).
    static func isAnonymousForm(_ path: String) -> Bool {
        ["/signup", "/signin", "/forgot-password", "/reset-password"].contains(path) || path.hasPrefix("/i/")
    }

    /// Checks a form post before its body is read (the route collects it only after the middleware): the CSRF cookie
    /// is there, the body is a URL-encoded form (multipart only for the two import uploads, which read their own body
    /// after checking the session, the form's origin and the permission), and a signed-in route has a live session.
    static func admitForm(_ request: Request) throws {
        guard request.cookies[name(csrfCookie, on: request)]?.string.isEmpty == false else {
            throw RosterError(.forbidden, "This form expired or did not come from Roster. Reload the page and try again.")
        }
        let path = request.url.path
        let type = request.headers.contentType
        let upload = isUpload(path)
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

    static let foreignForm = RosterError(.forbidden, "This form expired or did not come from Roster. Reload the page and try again.")

    /// The form token of a session: a one-way function of its secret token.
    static func formToken(session token: String) -> String { Secret.hash("roster-form:" + token) }

    private struct CSRFKey: StorageKey { typealias Value = String }
    static func csrfToken(_ request: Request) -> String { request.storage[CSRFKey.self] ?? "" }
}

extension Request {
    /// Refuses a form post whose `_csrf` field is not this request's form token (403, nothing done): signed in, the
    /// one derived from the session; signed out, the `roster_csrf` cookie. Reads the field from a body already read.
    func requireCSRF() throws {
        let sent = try? content.get(String.self, at: "_csrf")
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

    /// Characters of a one-time message at most (base64 of up to 4 bytes each stays under a cookie's size).
    static let flashLimit = 700
    /// Bytes of a refused form's fields kept for the next page at most (they share the message's cookie).
    static let keptFormLimit = 600
    /// Bytes of the flash cookie's value at most (a browser drops a cookie over about 4 KB, attributes included).
    static let flashCookieLimit = 3800

    /// A redirect after a form post (303), with a one-time message for the next page, and after a refusal the fields
    /// the person typed (`form`, without the form token or a password; dropped when they would not fit), which the
    /// page fills its form with again.
    func redirect(to path: String, notice: String? = nil, error: String? = nil, keeping form: [String: String] = [:]) -> Response {
        let response = Response(status: .seeOther)
        response.headers.replaceOrAdd(name: .location, value: path)
        guard var message = error ?? notice else { return response }
        // A cookie holds about 4 KB and a browser drops a larger one silently: the message is cut to fit.
        if message.count > Self.flashLimit { message = String(message.prefix(Self.flashLimit)) + "…" }
        var flash = Flash(notice: error == nil ? message : nil, error: error == nil ? nil : message)
        let kept = form.filter { !$0.key.hasPrefix("_") && !$0.key.contains("password") }
        if error != nil, let json = try? JSONEncoder().encode(kept), json.count <= Self.keptFormLimit { flash.form = kept }
        guard var value = try? JSONEncoder().encode(flash).base64EncodedString() else { return response }
        if value.utf8.count > Self.flashCookieLimit {
            // A message of many multi-byte characters leaves no room for the fields.
            flash.form = [:]
            value = (try? JSONEncoder().encode(flash).base64EncodedString()) ?? ""
        }
        response.cookies[WebSession.name(WebSession.flashCookie, on: self)] = WebSession.cookie(value, on: self, maxAge: 60)
        return response
    }

    /// The one-time message set by the previous redirect, and the fields of a refused form.
    var flash: Flash {
        guard let raw = cookies[WebSession.name(WebSession.flashCookie, on: self)]?.string, let data = Data(base64Encoded: raw),
              let flash = try? JSONDecoder().decode(Flash.self, from: data) else { return Flash() }
        return flash
    }
}

/// What a redirect hands the next page once (`Request.redirect(to:notice:error:keeping:)`).
struct Flash: Codable {
    var notice: String?
    var error: String?
    /// The fields of the form that was refused, by name.
    var form: [String: String] = [:]
}

extension Request {
    /// Refuses an upload that a page of another site sent (403), before its body is read: the browser says where the
    /// form came from (`Sec-Fetch-Site`, or `Origin`, which every browser sends with a form post).
    func requireSameOrigin() throws {
        if let site = headers.first(name: "Sec-Fetch-Site") {
            guard site == "same-origin" else { throw WebSession.foreignForm }
            return
        }
        guard let origin = headers.first(name: .origin).flatMap(URLComponents.init(string:)), let host = origin.host else {
            throw WebSession.foreignForm
        }
        let sent = origin.port.map { "\(host):\($0)" } ?? host
        let base = URLComponents(string: application.roster.configuration.baseURL)
        let ours = [headers.first(name: .host), base.flatMap { b in b.host.map { h in b.port.map { "\(h):\($0)" } ?? h } }].compactMap { $0 }
        guard ours.contains(sent) else { throw WebSession.foreignForm }
    }
}

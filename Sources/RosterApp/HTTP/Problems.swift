import Vapor
import RosterCore
import RosterStore

/// The RFC 9457 body of every error response.
struct ProblemBody: Content {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var code: String
    var errors: [FieldIssue]?
    var requestID: String
    var extensions: [String: String] = [:]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (key, value) in extensions { try c.encode(value, forKey: Key(key)) }
        try c.encode(type, forKey: Key("type"))
        try c.encode(title, forKey: Key("title"))
        try c.encode(status, forKey: Key("status"))
        try c.encode(detail, forKey: Key("detail"))
        try c.encode(code, forKey: Key("code"))
        try c.encodeIfPresent(errors, forKey: Key("errors"))
        try c.encode(requestID, forKey: Key("request_id"))
    }

    init(from decoder: any Decoder) throws {
        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "problems are only encoded"))
    }

    init(type: String, title: String, status: Int, detail: String, code: String, errors: [FieldIssue]?, requestID: String, extensions: [String: String]) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.code = code
        self.errors = errors
        self.requestID = requestID
        self.extensions = extensions
    }

    static let defaultContentType = HTTPMediaType(type: "application", subType: "problem+json", parameters: ["charset": "utf-8"])
}

/// Turns every error into an `application/problem+json` response with a stable `code`; never leaks internals.
struct ProblemMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).flatMapErrorThrowing { error in
            // An address that exists, asked with a method it does not take: 405 with the methods it does.
            if error is RouteNotFound, case let allowed = Self.methods(routing: request.url.path, in: request.application), !allowed.isEmpty {
                let response = Self.response(for: RosterError(.methodNotAllowed, "This address takes \(allowed.joined(separator: ", ")), not \(request.method.rawValue)."),
                                             request: request)
                response.headers.replaceOrAdd(name: .allow, value: allowed.joined(separator: ", "))
                return response
            }
            return Self.response(for: error, request: request)
        }
    }

    /// The methods the routes for `path` answer (empty when no route has it).
    static func methods(routing path: String, in app: Application) -> [String] {
        let segments = path.split(separator: "/").map(String.init)
        let methods = app.routes.all.filter { route in
            route.path.count == segments.count && zip(route.path, segments).allSatisfy { component, segment in
                switch component {
                case .constant(let text): text == segment
                case .parameter, .anything: true
                case .catchall: true
                }
            }
        }.map(\.method.rawValue)
        return Array(Set(methods)).sorted()
    }

    static func rosterError(for error: any Error) -> RosterError {
        if let error = UniqueConstraint.mapped(error) as? RosterError { return error }
        if let abort = error as? any AbortError {
            switch abort.status {
            case .notFound: return RosterError(.notFound, "There is nothing at this address.")
            case .payloadTooLarge: return RosterError(.payloadTooLarge, "The request body is larger than this endpoint accepts.")
            case .unsupportedMediaType: return RosterError(.unsupportedMediaType, abort.reason)
            case .methodNotAllowed: return RosterError(.methodNotAllowed, abort.reason)
            case .unauthorized: return RosterError(.unauthenticated, "Send a valid session token or API key as 'Authorization: Bearer …'.")
            case .badRequest: return RosterError(.validationFailed, abort.reason)
            case .unprocessableEntity: return RosterError(.validationFailed, abort.reason)
            case .tooManyRequests: return RosterError(.rateLimited, abort.reason)
            default:
                if (400..<500).contains(Int(abort.status.code)) {
                    return RosterError(.validationFailed, abort.reason)
                }
            }
        }
        if error is DecodingError {
            return RosterError(.validationFailed, "The request could not be read.")
        }
        return RosterError(.internalError, "Something went wrong on our side. Quote the request id when you report it.")
    }

    static func response(for error: any Error, request: Request) -> Response {
        let problem = rosterError(for: error)
        if problem.code == .internalError {
            request.logger.report(error: error)
        } else {
            request.logger.debug("refused: \(problem)")
        }
        let body = ProblemBody(
            type: "https://roster.dev/problems/\(problem.code.rawValue)",
            title: problem.code.title,
            status: problem.code.status,
            detail: problem.detail,
            code: problem.code.rawValue,
            errors: problem.issues.isEmpty ? nil : problem.issues,
            requestID: request.id,
            extensions: problem.extensions)
        var headers = HTTPHeaders()
        headers.contentType = ProblemBody.defaultContentType
        if let retryAfter = problem.retryAfter { headers.replaceOrAdd(name: .retryAfter, value: String(retryAfter)) }
        if problem.code == .unauthenticated { headers.replaceOrAdd(name: .wwwAuthenticate, value: "Bearer") }
        let data = (try? JSONEncoder.roster.encode(body)) ?? Data()
        return Response(status: HTTPResponseStatus(statusCode: problem.code.status), headers: headers, body: .init(data: data))
    }
}

/// Echoes the request id (`X-Request-Id`, taken from the request when a proxy set one) on every response.
struct RequestIDMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).map { response in
            response.headers.replaceOrAdd(name: "X-Request-Id", value: request.id)
            return response
        }
    }
}

extension JSONEncoder {
    /// The encoder for every JSON response: ISO 8601 dates, sorted keys (stable bytes for identical answers).
    static let roster: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

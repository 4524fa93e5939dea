import Foundation
import Vapor
import RosterCore

/// The names and messages of SCIM 2.0 (RFC 7643, RFC 7644) that Roster's SCIM server speaks.
enum SCIM {
    static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    static let listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    static let patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    static let errorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
    static let contentType = HTTPMediaType(type: "application", subType: "scim+json", parameters: ["charset": "utf-8"])
    /// Resources in one list response at most.
    static let maximumResults = 200
    /// Operations in one PATCH at most, and members in one group request.
    static let maximumOperations = 1000

    /// A JSON object as SCIM bodies are handled (parsed with JSONSerialization: attribute names are
    /// case-insensitive and values loosely typed across providers).
    typealias Object = [String: Any]

    /// `dict[name]`, with the attribute name matched case-insensitively (RFC 7643 §2.1).
    static func value(_ object: Object, _ name: String) -> Any? {
        if let exact = object[name] { return exact }
        return object.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// An RFC 3339 timestamp.
    static func timestamp(_ date: Date) -> String {
        date.formatted(timestampFormat)
    }

    /// A value, not a formatter object: a new `ISO8601DateFormatter` per timestamp cost a list request a sixth of its time.
    private static let timestampFormat = Date.ISO8601FormatStyle()

    /// A response with a SCIM body.
    static func response(_ body: Object, status: HTTPResponseStatus = .ok, location: String? = nil) throws -> Response {
        let data = try JSONObjectText.data(body)
        var headers = HTTPHeaders()
        headers.contentType = contentType
        if let location { headers.replaceOrAdd(name: .location, value: location) }
        return Response(status: status, headers: headers, body: .init(data: data))
    }

    /// The request's JSON object (`application/scim+json` or `application/json`), or a 400 `invalidSyntax`.
    static func body(_ req: Request) throws -> Object {
        guard let type = req.headers.contentType, type.type == "application", type.subType == "json" || type.subType == "scim+json" else {
            throw SCIMError(.unsupportedMediaType, detail: "Send the body as application/scim+json (or application/json).")
        }
        guard let buffer = req.body.data, let object = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? Object else {
            throw SCIMError(.badRequest, scimType: "invalidSyntax", detail: "The body is not a JSON object.")
        }
        return object
    }

    /// A list response of `resources` (already a page), `total` in all, starting at `startIndex`.
    static func list(_ resources: [Object], total: Int, startIndex: Int) -> Object {
        ["schemas": [listSchema], "totalResults": total, "startIndex": startIndex, "itemsPerPage": resources.count, "Resources": resources]
    }

    /// `resource` reduced by the `attributes` or `excludedAttributes` query parameter (RFC 7644 §3.4.2.5): `schemas`
    /// and `id` are always returned.
    static func project(_ resource: Object, attributes: [String]?, excluded: [String]?) -> Object {
        func top(_ list: [String]) -> Set<String> { Set(list.map { String($0.split(separator: ".").first ?? "").lowercased() }) }
        if let attributes, !attributes.isEmpty {
            let keep = top(attributes).union(["schemas", "id"])
            return resource.filter { keep.contains($0.key.lowercased()) }
        }
        if let excluded, !excluded.isEmpty {
            let drop = top(excluded).subtracting(["schemas", "id"])
            return resource.filter { !drop.contains($0.key.lowercased()) }
        }
        return resource
    }

    /// A filter Roster answers: `ATTRIBUTE eq "VALUE"` on one attribute of `allowed` (matched case-insensitively).
    static func filter(_ raw: String?, allowed: [String]) throws -> (attribute: String, value: String)? {
        guard let raw, !raw.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        let invalid = SCIMError(.badRequest, scimType: "invalidFilter",
                                detail: "Roster answers filters of the form ATTRIBUTE eq \"VALUE\" on \(allowed.joined(separator: ", ")).")
        let scanner = Scanner(string: raw)
        scanner.charactersToBeSkipped = .whitespaces
        guard let name = scanner.scanCharacters(from: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".:"))),
              let attribute = allowed.first(where: { $0.caseInsensitiveCompare(name) == .orderedSame }),
              scanner.scanCharacters(from: .letters)?.lowercased() == "eq", scanner.scanString("\"") != nil else { throw invalid }
        // The quoted value is read by hand: the scanner would skip the spaces inside it.
        var value = ""
        var rest = raw[scanner.currentIndex...].makeIterator()
        while let character = rest.next() {
            if character == "\\" { if let escaped = rest.next() { value.append(escaped) }; continue }
            if character == "\"" {
                guard rest.allSatisfy(\.isWhitespace) else { throw invalid }
                // Nothing stored holds a NUL, and PostgreSQL refuses one in text.
                guard !value.unicodeScalars.contains("\0") else {
                    throw SCIMError(.badRequest, scimType: "invalidFilter", detail: "A filter value cannot contain a NUL character.")
                }
                return (attribute, value)
            }
            value.append(character)
        }
        throw invalid
    }

    /// A request's query parameters, decoded once (form encoding: `+` is a space; the first of repeated names
    /// counts). Vapor's query decoder parses the whole query again for every parameter read, a twentieth of a
    /// filtered list request's time for each.
    struct Query {
        private var values: [String: String] = [:]

        init(_ req: Request) {
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            for pair in (req.url.query ?? "").split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = decode(parts[0])
                if values[name] == nil { values[name] = parts.count > 1 ? decode(parts[1]) : "" }
            }
        }

        subscript(_ name: String) -> String? { values[name] }

        /// `attributes` and `excludedAttributes`, split at commas.
        var projection: (attributes: [String]?, excluded: [String]?) {
            func list(_ name: String) -> [String]? {
                values[name].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            }
            return (list("attributes"), list("excludedAttributes"))
        }

        /// Whether a response carries the top-level `attribute` (by `project`'s rules).
        func returns(_ attribute: String) -> Bool {
            let (attributes, excluded) = projection
            return SCIM.project([attribute: true], attributes: attributes, excluded: excluded)[attribute] != nil
        }

        /// The 1-based `startIndex` and the `count` of a list request (RFC 7644 §3.4.2.4: below 1 reads as 1; count
        /// capped at `maximumResults`).
        var page: (startIndex: Int, count: Int) {
            // Past any roster's end, and far from overflowing `start - 1 + count`.
            let start = min(max(1, values["startIndex"].flatMap { Int($0) } ?? 1), 1_000_000_000)
            let count = min(max(0, values["count"].flatMap { Int($0) } ?? maximumResults), maximumResults)
            return (start, count)
        }
    }

    /// One operation of a PATCH request (RFC 7644 §3.5.2).
    struct PatchOperation: @unchecked Sendable {   // a parsed JSON value: never mutated
        enum Op: String { case add, replace, remove }
        var op: Op
        var path: String?
        var value: Any?
    }

    /// The operations of a PATCH body, or 400 `invalidSyntax`.
    static func patchOperations(_ body: Object) throws -> [PatchOperation] {
        guard let operations = value(body, "Operations") as? [Object], !operations.isEmpty else {
            throw SCIMError(.badRequest, scimType: "invalidSyntax", detail: "A PATCH body names its Operations.")
        }
        guard operations.count <= maximumOperations else {
            throw SCIMError(.badRequest, scimType: "tooMany", detail: "At most \(maximumOperations) operations in one request.")
        }
        return try operations.map { operation in
            guard let raw = value(operation, "op") as? String, let op = PatchOperation.Op(rawValue: raw.lowercased()) else {
                throw SCIMError(.badRequest, scimType: "invalidSyntax", detail: "Each operation's op is add, replace or remove.")
            }
            let path = (value(operation, "path") as? String).flatMap { $0.isEmpty ? nil : $0 }
            if op == .remove && path == nil { throw SCIMError(.badRequest, scimType: "noTarget", detail: "A remove operation names its path.") }
            let given = value(operation, "value")
            if op != .remove && given == nil {
                throw SCIMError(.badRequest, scimType: "invalidValue", detail: "An \(op.rawValue) operation carries a value.")
            }
            if let path, case let lowered = path.lowercased(), lowered == "id" || lowered == "meta" || lowered.hasPrefix("meta.") {
                throw SCIMError(.badRequest, scimType: "mutability", detail: "\(path) is read-only.")
            }
            return PatchOperation(op: op, path: path, value: given)
        }
    }

    /// A boolean as providers send it (`true`, or Entra's `"True"`).
    static func bool(_ raw: Any?) -> Bool? {
        if let bool = raw as? Bool { return bool }
        if let text = raw as? String { return ["true": true, "false": false][text.lowercased()] }
        return nil
    }

    /// A string attribute: nil for null or absent, 400 `invalidValue` for another type.
    static func string(_ raw: Any?, _ name: String) throws -> String? {
        if raw == nil || raw is NSNull { return nil }
        guard let text = raw as? String else { throw SCIMError(.badRequest, scimType: "invalidValue", detail: "\(name) must be a string.") }
        guard text.count <= 1000, !text.utf8.contains(0) else {
            throw SCIMError(.badRequest, scimType: "invalidValue", detail: "\(name) must be at most 1000 characters, without NUL.")
        }
        return text
    }
}

/// A SCIM error (RFC 7644 §3.12): a status, an optional `scimType` and a detail.
struct SCIMError: Error {
    var status: HTTPResponseStatus
    var scimType: String?
    var detail: String

    init(_ status: HTTPResponseStatus, scimType: String? = nil, detail: String) {
        self.status = status
        self.scimType = scimType
        self.detail = detail
    }

    /// The SCIM error a refusal of the rest of Roster means.
    init(_ error: any Error) {
        switch error {
        case let error as SCIMError:
            self = error
        case let error as RosterError:
            let detail = error.issues.isEmpty ? error.detail : error.issues.map { "\($0.field) \($0.message)" }.joined(separator: "; ")
            switch error.code.status {
            case 400, 422: self.init(.badRequest, scimType: "invalidValue", detail: detail)
            case 409:
                let unique: Set<ProblemCode> = [.alreadyMember, .alreadyInvited, .externalIDTaken, .invitationPending, .joinRequestPending, .slugTaken]
                self.init(.conflict, scimType: unique.contains(error.code) ? "uniqueness" : nil, detail: detail)
            default: self.init(HTTPResponseStatus(statusCode: error.code.status), detail: detail)
            }
        case let abort as any AbortError:
            self.init(abort.status, detail: abort.reason)
        default:
            self.init(.internalServerError, detail: "Something went wrong on our side; the request id is in the logs.")
        }
    }

    var body: SCIM.Object {
        var body: SCIM.Object = ["schemas": [SCIM.errorSchema], "status": String(status.code), "detail": detail]
        if let scimType { body["scimType"] = scimType }
        return body
    }
}

/// Answers every error under `/scim` as a SCIM error body (unknown paths, authentication, refusals).
struct SCIMErrorMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            let scim = SCIMError(error)
            if scim.status == .internalServerError { request.logger.error("SCIM \(request.url.path): \(String(reflecting: error))") }
            return try SCIM.response(scim.body, status: scim.status)
        }
    }
}

import Vapor
import RosterCore

/// A JSON request body with a closed set of fields: unknown fields are refused, not ignored.
protocol RequestBody: Decodable, Sendable {
    /// The JSON keys this body accepts.
    static var fields: Set<String> { get }
    /// The JSON keys accepted inside nested objects, by field name.
    static var nested: [String: Set<String>] { get }
}

extension RequestBody {
    static var nested: [String: Set<String>] { [:] }
}

extension Request {
    /// The largest JSON body any endpoint accepts.
    static let maximumJSONBytes = 64 * 1024

    /// Decodes the body strictly: JSON content type, a JSON object, only known fields, right types.
    /// Every failure is a 4xx `RosterError`; an empty body decodes as `{}`.
    func decodeBody<T: RequestBody>(_ type: T.Type) throws -> T {
        let buffer = body.data ?? ByteBuffer()
        if buffer.readableBytes > Self.maximumJSONBytes {
            throw RosterError(.payloadTooLarge, "JSON bodies are limited to \(Self.maximumJSONBytes / 1024) KiB.")
        }
        let data = buffer.readableBytes == 0 ? Data("{}".utf8) : Data(buffer.readableBytesView)
        if buffer.readableBytes > 0, let contentType = headers.contentType, contentType != .json {
            throw RosterError(.unsupportedMediaType, "Send the body as application/json.")
        }
        do {
            return try Self.jsonDecoder.decode(StrictBody<T>.self, from: data).value
        } catch let error as RosterError {
            throw error
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                // Foundation's decoder says "not valid JSON" also of a number its field cannot hold (1.5 or 1e30 for
                // a whole number), without naming the field: tell the two apart.
                guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                    throw RosterError(.malformedJSON, "The body is not valid JSON.")
                }
                let fields = object.filter { ($0.value as? NSNumber).map { !Self.isWholeNumber($0) } ?? false }.keys.sorted()
                throw RosterError.validation(fields.isEmpty ? [FieldIssue(field: "", message: "holds a number its field cannot take")]
                                                            : fields.prefix(20).map { FieldIssue(field: $0, message: "must be a whole number in range") })
            }
            if case .typeMismatch(_, let context) = error, context.codingPath.isEmpty {
                throw RosterError(.validationFailed, "The body must be a JSON object.")
            }
            throw RosterError.validation([Self.issue(for: error)])
        }
    }

    private static let jsonDecoder = JSONDecoder()

    /// Whether `number` is a whole number a 64-bit integer holds (a boolean is 0 or 1).
    private static func isWholeNumber(_ number: NSNumber) -> Bool {
        let value = number.doubleValue
        return value.rounded() == value && abs(value) < 9.2e18
    }

    private static func issue(for error: DecodingError) -> FieldIssue {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return FieldIssue(field: path(context.codingPath + [key]), message: "is required")
        case .typeMismatch(let type, let context):
            return FieldIssue(field: path(context.codingPath), message: "must be \(describe(type))")
        case .valueNotFound(let type, let context):
            return FieldIssue(field: path(context.codingPath), message: "must be \(describe(type)), not null")
        case .dataCorrupted(let context):
            return FieldIssue(field: path(context.codingPath), message: context.debugDescription)
        @unknown default:
            return FieldIssue(field: "", message: "is invalid")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type, is EmailAddress.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is Double.Type: "a number"
        default: String(describing: type).contains("Array") ? "an array" : "an object"
        }
    }
}

/// Decodes a `RequestBody` in one pass, refusing keys it does not declare (top level and `nested`).
private struct StrictBody<T: RequestBody>: Decodable {
    let value: T

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        var unknown = container.allKeys.map(\.stringValue).filter { !T.fields.contains($0) }.sorted()
        for (field, allowed) in T.nested.sorted(by: { $0.key < $1.key }) {
            if let inner = try? container.nestedContainer(keyedBy: AnyKey.self, forKey: AnyKey(stringValue: field)) {
                unknown += inner.allKeys.map(\.stringValue).filter { !allowed.contains($0) }.sorted().map { "\(field).\($0)" }
            }
        }
        if !unknown.isEmpty {
            throw RosterError.validation(unknown.map { FieldIssue(field: $0, message: "is not a known field") })
        }
        value = try T(from: decoder)
    }
}

/// An HTTP response with a JSON body encoded by `JSONEncoder.roster` and a chosen status.
func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) throws -> Response {
    var headers = HTTPHeaders()
    headers.contentType = .json
    return Response(status: status, headers: headers, body: .init(data: try JSONEncoder.roster.encode(value)))
}

extension Request {
    /// A boolean query parameter: `true` or `false` (also `1` and `0`); nil when absent. Anything else is 422
    /// `validation_failed`, never a silent false (`dry_run=yes` must not write).
    func booleanQuery(_ name: String) throws(RosterError) -> Bool? {
        guard let raw = query[String.self, at: name] else { return nil }
        switch raw.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw RosterError.validation([FieldIssue(field: name, message: "must be true or false")])
        }
    }
}

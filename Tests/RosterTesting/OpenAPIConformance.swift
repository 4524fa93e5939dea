import Foundation
import Testing
import RosterApp

/// Checks every response the API tests receive against the OpenAPI document (issue 14, point 6): the status must be
/// one the operation documents, and a JSON body must validate against the documented schema (a subset of JSON Schema:
/// `$ref`, `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`, `oneOf`, `anyOf`, `format`).
public enum OpenAPIConformance {
    nonisolated(unsafe) private static let document: [String: Any] =
        (try? JSONSerialization.jsonObject(with: RosterAPI.openAPIDocument) as? [String: Any]) ?? [:]
    nonisolated(unsafe) private static let paths = document["paths"] as? [String: [String: Any]] ?? [:]
    nonisolated(unsafe) private static let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]

    /// The documented template a concrete path answers to (the most literal one when several match).
    static func template(for path: String) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return paths.keys.filter { template in
            let parts = template.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == segments.count && zip(parts, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }.min { $0.filter { $0 == "{" }.count < $1.filter { $0 == "{" }.count }
    }

    /// The problems with one response (empty when it conforms, or when the path is not part of the API).
    public static func problems(method: String, path rawPath: String, status: Int, contentType: String?, body: Data) -> [String] {
        let path = String(rawPath.split(separator: "?", maxSplits: 1).first ?? "")
        guard let template = template(for: path), let operation = paths[template]?[method.lowercased()] as? [String: Any] else {
            // An API address the document does not describe may only be refused as absent or not taking the method.
            return path.hasPrefix("/v1/") && ![404, 405].contains(status) ? ["\(method) \(path) → \(status): no documented operation"] : []
        }
        let name = "\(method) \(template) → \(status)"
        guard let response = (operation["responses"] as? [String: Any])?[String(status)] as? [String: Any] else {
            return ["\(name): status not documented"]
        }
        var content = response["content"] as? [String: Any]
        if response["$ref"] != nil { content = ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]] }
        guard let content, !content.isEmpty else { return body.isEmpty ? [] : ["\(name): a body where none is documented"] }
        let type = contentType.map { String($0.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces) } ?? ""
        guard let media = content[type] as? [String: Any] else { return ["\(name): content type \(type) not documented (\(content.keys.sorted()))"] }
        guard type.hasSuffix("json"), let schema = media["schema"] else { return [] }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else { return ["\(name): the body is not JSON"] }
        return validate(value, against: schema, at: "body").map { "\(name): \($0)" }
    }

    /// Records an issue in the running test for each problem.
    public static func check(method: String, path: String, status: Int, contentType: String?, body: Data) {
        for problem in problems(method: method, path: path, status: status, contentType: contentType, body: body) {
            Issue.record(Comment(rawValue: "OpenAPI: \(problem)"))
        }
    }

    static func validate(_ value: Any, against rawSchema: Any, at location: String) -> [String] {
        guard var schema = rawSchema as? [String: Any] else { return [] }
        if let ref = schema["$ref"] as? String {
            guard let resolved = schemas[String(ref.split(separator: "/").last ?? "")] else { return ["\(location): unknown \(ref)"] }
            schema = resolved as? [String: Any] ?? [:]
        }
        if let options = schema["anyOf"] as? [Any] {
            return options.contains { validate(value, against: $0, at: location).isEmpty } ? [] : ["\(location): matches none of anyOf"]
        }
        if let options = schema["oneOf"] as? [Any] {
            let matching = options.filter { validate(value, against: $0, at: location).isEmpty }.count
            return matching == 1 ? [] : ["\(location): matches \(matching) of oneOf"]
        }
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { "\($0)" == "\(value)" }) {
            return ["\(location): \(value) is not one of \(allowed)"]
        }
        if let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map({ [$0] }) {
            guard types.contains(where: { matches(value, type: $0) }) else { return ["\(location): \(value) is not \(types)"] }
        }
        var problems: [String] = []
        if let text = value as? String, schema["format"] as? String == "date-time", (try? Date(text, strategy: .iso8601)) == nil {
            problems.append("\(location): \(text) is not a date-time")
        }
        if let text = value as? String, schema["format"] as? String == "uuid", UUID(uuidString: text) == nil {
            problems.append("\(location): \(text) is not a uuid")
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { problems.append("\(location).\(key): required, missing") }
            for (key, member) in object {
                if let property = properties[key] {
                    problems += validate(member, against: property, at: "\(location).\(key)")
                } else if let additional = schema["additionalProperties"] {
                    if additional as? Bool == false { problems.append("\(location).\(key): not in the schema") }
                    else if additional is [String: Any] { problems += validate(member, against: additional, at: "\(location).\(key)") }
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] {
            for (index, item) in array.enumerated() { problems += validate(item, against: items, at: "\(location)[\(index)]") }
        }
        return problems
    }

    /// Whether a parsed JSON value was `true` or `false` (Foundation parses both booleans and numbers as NSNumber).
    static func isBoolean(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }

    static func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "string": return value is String
        case "boolean": return isBoolean(value)
        case "integer": return (value as? NSNumber).map { !isBoolean($0) && floor($0.doubleValue) == $0.doubleValue } ?? false
        case "number": return (value as? NSNumber).map { !isBoolean($0) } ?? false
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        default: return true
        }
    }
}

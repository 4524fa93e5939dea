import Foundation
import Testing
@testable import RosterApp

/// `JSONObjectText` writes the JSON `JSONSerialization` wrote before it (SCIM bodies, access log lines), faster:
/// the same values, keys in byte order, slashes unescaped.
@Suite struct JSONObjectTextTests {
    @Test func writesTheSameValuesWithKeysInByteOrder() throws {
        let objects: [[String: Any]] = [
            ["schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 1, "itemsPerPage": 1, "startIndex": 1,
             "Resources": [["id": UUID().uuidString, "userName": "ada@example.com", "name": ["givenName": "Ada", "familyName": "Lovelace"],
                            "active": true, "emails": [["value": "ada@example.com", "primary": true]],
                            "meta": ["location": "http://127.0.0.1:8080/scim/v2/Users/1", "version": "W/\"1\""], "none": NSNull()]]],
            ["quoted \"key\"": "line\nbreak\ttab \\ back/slash", "unicode": "Zoë 東京 🚀", "control": "\u{01}\u{1f}", "negative": -42,
             "empty": [String: Any](), "list": [Any](), "nested": [[1, 2], ["a": false]]],
        ]
        for object in objects {
            let text = try JSONObjectText.data(object)
            // The values read back, written as JSONSerialization writes them, are the object's.
            let read = try JSONSerialization.jsonObject(with: text)
            let canonical = { (value: Any) in String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self) }
            #expect(try canonical(read) == canonical(object))
            #expect(!String(decoding: text, as: UTF8.self).contains("\\/"))
        }
        let list = String(decoding: try JSONObjectText.data(objects[0]), as: UTF8.self)
        let keys = ["Resources", "itemsPerPage", "schemas", "startIndex", "totalResults"].map { list.range(of: "\"\($0)\":")?.lowerBound }
        #expect(keys.allSatisfy { $0 != nil } && keys.map { $0! } == keys.map { $0! }.sorted())
    }
}

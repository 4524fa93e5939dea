import Foundation
import Testing
@testable import RosterApp

/// `JSONObjectText` writes what `JSONSerialization` wrote before it (SCIM bodies, access log lines), faster.
@Suite struct JSONObjectTextTests {
    @Test func writesWhatJSONSerializationWrote() throws {
        let objects: [[String: Any]] = [
            ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": UUID().uuidString, "userName": "ada@example.com",
             "name": ["givenName": "Ada", "familyName": "Lovelace"], "active": true, "emails": [["value": "ada@example.com", "primary": true]],
             "meta": ["location": "http://127.0.0.1:8080/scim/v2/Users/1", "version": "W/\"1\""], "totalResults": 0, "none": NSNull()],
            ["quoted \"key\"": "line\nbreak\ttab \\ back/slash", "unicode": "Zoë 東京 🚀", "control": "\u{01}\u{1f}", "negative": -42,
             "empty": [String: Any](), "list": [Any](), "nested": [[1, 2], ["a": false]]],
        ]
        for object in objects {
            let expected = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            #expect(String(decoding: try JSONObjectText.data(object), as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        }
    }
}

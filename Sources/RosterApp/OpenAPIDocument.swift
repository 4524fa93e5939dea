import Foundation
import RosterCore

/// The OpenAPI 3.1 description of every route `roster serve` answers. A test keeps it equal to the router.
enum OpenAPIDocument {
    /// One documented operation.
    struct Operation {
        var method: String
        var path: String
        var summary: String
        var tag: String
        var authenticated: Bool
        var requestSchema: String?
        var requestContentType = "application/json"
        /// status → (description, schema name or nil, content type)
        var responses: [(Int, String, String?)]
        var errors: [Int]
    }

    static let operations: [Operation] = [
        Operation(method: "get", path: "/healthz", summary: "Liveness", tag: "operations", authenticated: false,
                  responses: [(200, "Alive", "Status")], errors: []),
        Operation(method: "get", path: "/readyz", summary: "Readiness (database reachable)", tag: "operations", authenticated: false,
                  responses: [(200, "Ready", "Status"), (503, "Database unreachable", "Status")], errors: []),
        Operation(method: "get", path: "/openapi.json", summary: "This document", tag: "operations", authenticated: false,
                  responses: [(200, "The OpenAPI document", nil)], errors: []),
        Operation(method: "post", path: "/v1/accounts", summary: "Sign up; sends a verification email", tag: "accounts", authenticated: false,
                  requestSchema: "CreateAccountRequest", responses: [(201, "Created", "Account")], errors: [400, 409, 413, 415, 422]),
        Operation(method: "post", path: "/v1/accounts/verify", summary: "Verify an email address with the emailed token", tag: "accounts",
                  authenticated: false, requestSchema: "VerifyEmailRequest", responses: [(200, "Verified", "Account")], errors: [400, 413, 415, 422]),
        Operation(method: "post", path: "/v1/sessions", summary: "Sign in", tag: "sessions", authenticated: false,
                  requestSchema: "CreateSessionRequest", responses: [(201, "Signed in", "Session")], errors: [400, 401, 413, 415, 422, 429]),
        Operation(method: "delete", path: "/v1/sessions/current", summary: "Sign out", tag: "sessions", authenticated: true,
                  responses: [(204, "Signed out", nil)], errors: [401]),
        Operation(method: "get", path: "/v1/me", summary: "The signed-in account", tag: "me", authenticated: true,
                  responses: [(200, "The account", "Account")], errors: [401]),
        Operation(method: "patch", path: "/v1/me", summary: "Change name or password", tag: "me", authenticated: true,
                  requestSchema: "UpdateMeRequest", responses: [(200, "Updated", "Account")], errors: [400, 401, 413, 415, 422]),
        Operation(method: "delete", path: "/v1/me", summary: "Delete the signed-in account", tag: "me", authenticated: true,
                  requestSchema: "DeleteMeRequest", responses: [(204, "Deleted", nil)], errors: [400, 401, 409, 413, 415, 422]),
        Operation(method: "get", path: "/verify-email", summary: "Email verification page (HTML)", tag: "pages", authenticated: false,
                  responses: [(200, "HTML page", nil)], errors: []),
        Operation(method: "post", path: "/verify-email", summary: "Email verification form (HTML)", tag: "pages", authenticated: false,
                  requestSchema: "VerifyEmailForm", requestContentType: "application/x-www-form-urlencoded",
                  responses: [(200, "HTML page", nil)], errors: []),
    ]

    static var schemas: [String: Any] { [
        "Status": object(["status": ["type": "string"]], required: ["status"]),
        "Problem": object([
            "type": ["type": "string"], "title": ["type": "string"], "status": ["type": "integer"],
            "detail": ["type": "string"], "code": ["type": "string", "enum": ProblemCode.allCases.map(\.rawValue)],
            "request_id": ["type": "string"],
            "errors": ["type": "array", "items": object(["field": ["type": "string"], "message": ["type": "string"]], required: ["field", "message"])],
        ], required: ["type", "title", "status", "detail", "code"]),
        "Account": object([
            "id": uuid, "email": ["type": "string"], "name": ["type": "string"],
            "email_verified": ["type": "boolean"], "is_platform_admin": ["type": "boolean"],
            "created_at": ["type": ["string", "null"], "format": "date-time"],
        ], required: ["id", "email", "name", "email_verified", "is_platform_admin"]),
        "Session": object([
            "token": ["type": "string"], "expires_at": ["type": "string", "format": "date-time"],
            "account": ["$ref": "#/components/schemas/Account"],
        ], required: ["token", "expires_at", "account"]),
        "CreateAccountRequest": object([
            "email": ["type": "string", "format": "email"], "name": ["type": "string", "minLength": 1, "maxLength": AccountRules.maximumNameLength],
            "password": ["type": "string", "minLength": AccountRules.minimumPasswordLength],
        ], required: ["email", "name", "password"]),
        "VerifyEmailRequest": object(["token": ["type": "string"]], required: ["token"]),
        "VerifyEmailForm": object(["token": ["type": "string"]], required: []),
        "CreateSessionRequest": object(["email": ["type": "string", "format": "email"], "password": ["type": "string"]], required: ["email", "password"]),
        "UpdateMeRequest": object([
            "name": ["type": "string"], "password": ["type": "string", "minLength": AccountRules.minimumPasswordLength],
            "current_password": ["type": "string"],
        ], required: []),
        "DeleteMeRequest": object(["password": ["type": "string"]], required: ["password"]),
    ] }

    static var uuid: [String: Any] { ["type": "string", "format": "uuid"] }

    static func object(_ properties: [String: Any], required: [String]) -> [String: Any] {
        ["type": "object", "properties": properties, "required": required, "additionalProperties": false]
    }

    /// The document as a JSON-compatible dictionary.
    static var document: [String: Any] {
        var paths: [String: [String: Any]] = [:]
        for op in operations {
            var responses: [String: Any] = [:]
            for (status, description, schema) in op.responses {
                var response: [String: Any] = ["description": description]
                if let schema {
                    response["content"] = ["application/json": ["schema": ["$ref": "#/components/schemas/\(schema)"]]]
                } else if description == "HTML page" {
                    response["content"] = ["text/html": ["schema": ["type": "string"]]]
                } else if op.path == "/openapi.json" {
                    response["content"] = ["application/json": ["schema": ["type": "object"]]]
                }
                responses[String(status)] = response
            }
            for status in op.errors {
                responses[String(status)] = ["$ref": "#/components/responses/Problem"]
            }
            var operation: [String: Any] = [
                "summary": op.summary, "tags": [op.tag], "responses": responses,
                "operationId": "\(op.method)\(op.path.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".", with: "_"))",
            ]
            if op.authenticated { operation["security"] = [["bearer": [String]()]] } else { operation["security"] = [[String: [String]]]() }
            if let schema = op.requestSchema {
                operation["requestBody"] = [
                    "required": op.requestContentType == "application/json",
                    "content": [op.requestContentType: ["schema": ["$ref": "#/components/schemas/\(schema)"]]],
                ]
            }
            let parameters = op.path.split(separator: "/").filter { $0.hasPrefix("{") }.map {
                ["name": String($0.dropFirst().dropLast()), "in": "path", "required": true, "schema": ["type": "string"]] as [String: Any]
            }
            if !parameters.isEmpty { operation["parameters"] = parameters }
            paths[op.path, default: [:]][op.method] = operation
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "Roster", "version": "1.0.0",
                     "description": "Organizations, memberships and invitations, with consent."],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "responses": ["Problem": [
                    "description": "An RFC 9457 problem with a stable code",
                    "content": ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]],
                ]],
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer",
                                               "description": "A session token, or a platform API key starting rk_"]],
            ],
        ]
    }

    /// The serialized document, built once.
    static let json: Data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
}

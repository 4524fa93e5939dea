import Foundation

/// What Roster's SCIM server supports, as `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` describe it
/// (RFC 7643 §5–7). Only attributes Roster stores and returns as given are published.
enum SCIMDiscovery {
    static func serviceProviderConfig(base: String) -> SCIM.Object {
        [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/roster/roster/blob/main/docs/scim.md",
            "patch": ["supported": true],
            "bulk": ["supported": false, "maxOperations": 0, "maxPayloadSize": 0],
            "filter": ["supported": true, "maxResults": SCIM.maximumResults],
            "changePassword": ["supported": false],
            "sort": ["supported": false],
            "etag": ["supported": false],
            "authenticationSchemes": [[
                "type": "oauthbearertoken", "name": "Organization API key",
                "description": "An organization API key holding the scim permission, sent as Authorization: Bearer rk_…",
            ]],
            "meta": ["resourceType": "ServiceProviderConfig", "location": "\(base)/ServiceProviderConfig"],
        ]
    }

    static func resourceTypes(base: String) -> [SCIM.Object] {
        [
            ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User", "endpoint": "/Users",
             "description": "A member of the organization (userName is the email address)", "schema": SCIM.userSchema,
             "meta": ["resourceType": "ResourceType", "location": "\(base)/ResourceTypes/User"]],
            ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Group", "name": "Group", "endpoint": "/Groups",
             "description": "A space of the organization", "schema": SCIM.groupSchema,
             "meta": ["resourceType": "ResourceType", "location": "\(base)/ResourceTypes/Group"]],
        ]
    }

    private static func attribute(_ name: String, type: String = "string", required: Bool = false, multiValued: Bool = false,
                                  mutability: String = "readWrite", uniqueness: String = "none", caseExact: Bool = false,
                                  referenceTypes: [String]? = nil, subAttributes: [SCIM.Object]? = nil, description: String) -> SCIM.Object {
        var attribute: SCIM.Object = [
            "name": name, "type": type, "multiValued": multiValued, "description": description, "required": required,
            "caseExact": caseExact, "mutability": mutability, "returned": "default", "uniqueness": uniqueness,
        ]
        if let referenceTypes { attribute["referenceTypes"] = referenceTypes }
        if let subAttributes { attribute["subAttributes"] = subAttributes }
        return attribute
    }

    static func schemas(base: String) -> [SCIM.Object] {
        let user: SCIM.Object = [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": SCIM.userSchema, "name": "User",
            "description": "A member of the organization",
            "attributes": [
                attribute("userName", required: true, uniqueness: "server",
                          description: "The member's email address; unique in the organization. Changing it ends the membership of the old address and provisions the new one."),
                attribute("name", type: "complex", subAttributes: [
                    attribute("givenName", description: "Given name"),
                    attribute("familyName", description: "Family name"),
                ], description: "The member's name"),
                attribute("displayName", description: "The name shown for the member"),
                attribute("active", type: "boolean",
                          description: "false ends the membership (removed, or the invitation revoked); true provisions it again"),
            ],
            "meta": ["resourceType": "Schema", "location": "\(base)/Schemas/\(SCIM.userSchema)"],
        ]
        let group: SCIM.Object = [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": SCIM.groupSchema, "name": "Group",
            "description": "A space of the organization",
            "attributes": [
                attribute("displayName", required: true, description: "The space's name"),
                attribute("members", type: "complex", multiValued: true, subAttributes: [
                    attribute("value", mutability: "immutable", description: "The id of a User"),
                    attribute("$ref", type: "reference", mutability: "immutable", referenceTypes: ["User"], description: "The User's URI"),
                ], description: "The users provisioned into the space"),
            ],
            "meta": ["resourceType": "Schema", "location": "\(base)/Schemas/\(SCIM.groupSchema)"],
        ]
        return [user, group]
    }
}

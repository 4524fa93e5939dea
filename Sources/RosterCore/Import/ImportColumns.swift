import Foundation

/// Where each known column is in an import file's header.
public struct ImportColumns: Sendable, Equatable {
    public var email: Int
    public var name: Int?
    public var role: Int?
    public var externalID: Int?
    /// Attribute key → column.
    public var attributes: [String: Int]

    /// Aliases of the external-ID column.
    static let externalIDNames: Set<String> = ["external_id", "external id", "ext_id", "externalid"]

    /// Finds the columns by name (case-insensitive, any order). Unknown and duplicate columns and a missing `email`
    /// column are all reported at once. An export's `status` column and a failures file's `line` and `reason` columns are accepted and ignored.
    public static func resolve(header: [String], attributeKeys: [String]) throws(ImportFileError) -> ImportColumns {
        var issues: [ImportFileIssue] = []
        var seen: [String: Int] = [:]
        var columns = ImportColumns(email: -1, name: nil, role: nil, externalID: nil, attributes: [:])
        let attributes = Set(attributeKeys)
        for (index, raw) in header.enumerated() {
            let name = raw.trimmingCharacters(in: .whitespaces).lowercased()
            let canonical = externalIDNames.contains(name) ? "external_id" : name
            if canonical.isEmpty {
                issues.append(ImportFileIssue(line: 1, code: "unknown_column", message: "Column \(index + 1) has no name."))
                continue
            }
            if seen[canonical] != nil {
                issues.append(ImportFileIssue(line: 1, code: "duplicate_column", message: "The column '\(raw)' appears more than once."))
                continue
            }
            seen[canonical] = index
            switch canonical {
            case "email": columns.email = index
            case "name": columns.name = index
            case "role": columns.role = index
            case "external_id": columns.externalID = index
            case "status", "line", "reason": break  // an export's status, or a failures file's line and reason
            default:
                if attributes.contains(canonical) {
                    columns.attributes[canonical] = index
                } else {
                    let known = (["email", "name", "role", "external_id"] + attributeKeys.sorted()).joined(separator: ", ")
                    issues.append(ImportFileIssue(line: 1, code: "unknown_column", message: "The column '\(raw)' is not one this roster reads (\(known))."))
                }
            }
        }
        if columns.email < 0 {
            issues.append(ImportFileIssue(line: 1, code: "missing_email_column", message: "The header has no 'email' column."))
        }
        if !issues.isEmpty { throw ImportFileError(issues) }
        return columns
    }
}

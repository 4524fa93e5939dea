import Foundation

/// A problem with an uploaded file as a whole: nothing is imported, every problem is listed with its line.
public struct ImportFileIssue: Sendable, Equatable, Codable {
    /// The physical line (header = 1), or nil for the file as a whole.
    public var line: Int?
    /// A stable code: `not_utf8`, `malformed_quoting`, `missing_email_column`, `unknown_column`, `duplicate_column`,
    /// `no_data_rows`, `too_many_rows`, `too_large`, `empty_file`.
    public var code: String
    public var message: String

    public init(line: Int?, code: String, message: String) {
        self.line = line
        self.code = code
        self.message = message
    }
}

/// A parsed CSV file: the header's cells and each record with the physical line it starts on.
public struct CSVTable: Sendable, Equatable {
    public var header: [String]
    public var records: [(line: Int, cells: [String])]

    public static func == (a: CSVTable, b: CSVTable) -> Bool {
        a.header == b.header && a.records.map(\.line) == b.records.map(\.line) && a.records.map(\.cells) == b.records.map(\.cells)
    }

    /// Parses RFC 4180 CSV: UTF-8 (a BOM is stripped), comma-separated, `"` quoting with `""` escapes, quoted
    /// commas and newlines, CRLF or LF. Physical lines that are empty are skipped. Cells are trimmed.
    public static func parse(_ data: Data) throws(ImportFileError) -> CSVTable {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) || (bytes.count >= 2 && bytes.prefix(200).filter({ $0 == 0 }).count * 4 >= min(bytes.count, 200)) {
            throw ImportFileError([ImportFileIssue(line: nil, code: "not_utf8", message: "The file is UTF-16; save it as UTF-8 (CSV UTF-8) and upload it again.")])
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ImportFileError([ImportFileIssue(line: nil, code: "not_utf8", message: "The file is not valid UTF-8; save it as UTF-8 (CSV UTF-8) and upload it again.")])
        }
        var records: [(line: Int, cells: [String])] = []
        var issues: [ImportFileIssue] = []
        var cells: [String] = []
        var cell = ""
        var inQuotes = false
        var quotedCell = false
        var line = 1
        var recordLine = 1
        var recordHasContent = false
        var chars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil

        func endCell() {
            cells.append(quotedCell ? cell : trimmed(cell))
            if !cell.isEmpty || quotedCell { recordHasContent = true }
            cell = ""
            quotedCell = false
        }
        func endRecord() {
            endCell()
            if recordHasContent || cells.count > 1 {
                records.append((recordLine, cells.map(trimmed)))
            }
            cells = []
            recordHasContent = false
        }

        while let c = pending ?? chars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    let next = chars.next()
                    if next == "\"" { cell.unicodeScalars.append("\"") } else { inQuotes = false; pending = next }
                } else {
                    if c == "\n" { line += 1 }
                    cell.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case ",":
                endCell()
            case "\r":
                let next = chars.next()
                if next != "\n" { pending = next }
                endRecord(); line += 1; recordLine = line
            case "\n":
                endRecord(); line += 1; recordLine = line
            case "\"":
                if !quotedCell && cell.unicodeScalars.allSatisfy({ $0 == " " || $0 == "\t" }) {
                    inQuotes = true
                    quotedCell = true
                    cell = ""
                } else {
                    issues.append(ImportFileIssue(line: line, code: "malformed_quoting", message: "A quote appears inside an unquoted cell; quote the whole cell and double inner quotes (\"\")."))
                    cell.unicodeScalars.append(c)
                }
            default:
                if quotedCell {
                    if !c.properties.isWhitespace {
                        issues.append(ImportFileIssue(line: line, code: "malformed_quoting", message: "Text follows a closing quote; double inner quotes (\"\")."))
                    }
                } else {
                    cell.unicodeScalars.append(c)
                }
            }
        }
        if inQuotes {
            issues.append(ImportFileIssue(line: recordLine, code: "malformed_quoting", message: "A quoted cell is never closed."))
        } else if !cell.isEmpty || !cells.isEmpty || quotedCell {
            endRecord()
        }
        if !issues.isEmpty { throw ImportFileError(issues) }
        guard let first = records.first else {
            throw ImportFileError([ImportFileIssue(line: nil, code: "empty_file", message: "The file is empty: it needs a header row and at least one data row.")])
        }
        return CSVTable(header: first.cells, records: Array(records.dropFirst()))
    }
}

/// `s` without leading and trailing spaces and tabs (cells are trimmed; quoted cells keep inner spacing).
func trimmed(_ s: String) -> String {
    let scalars = s.unicodeScalars
    guard let first = scalars.first, let last = scalars.last,
          first == " " || first == "\t" || last == " " || last == "\t" else { return s }
    return s.trimmingCharacters(in: .whitespaces)
}

/// The whole-upload refusal: every problem found, nothing written.
public struct ImportFileError: Error, Sendable, Equatable {
    public var issues: [ImportFileIssue]
    public init(_ issues: [ImportFileIssue]) { self.issues = issues }
}

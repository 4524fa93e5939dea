import Foundation

/// A problem with an uploaded file as a whole: nothing is imported, every problem is listed with its line.
public struct ImportFileIssue: Sendable, Equatable, Codable {
    /// The physical line (header = 1), or nil for the file as a whole.
    public var line: Int?
    /// A stable code: `not_utf8`, `malformed_quoting`, `missing_email_column`, `unknown_column`, `duplicate_column`,
    /// `no_data_rows`, `too_many_rows`, `too_large`, `empty_file`, `nul_character`, `more_problems`.
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

    /// The offset of the first byte that does not begin a valid UTF-8 sequence, or nil when all of `bytes` is UTF-8.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }

    /// Parses RFC 4180 CSV: UTF-8 (a BOM is stripped), comma-separated, `"` quoting with `""` escapes, quoted
    /// commas and newlines, CRLF or LF. Physical lines that are empty are skipped. Cells are trimmed.
    ///
    /// Works on bytes: every delimiter is ASCII, so UTF-8 sequences pass through untouched. Parsing stops as soon as
    /// the file holds more than `maximumRecords` data rows (`too_many_rows`). Problems are listed once per line and
    /// kind, at most `ImportFileError.maximumIssues` of them, then counted (`more_problems`), so a refusal stays small
    /// whatever the file.
    public static func parse(_ data: Data, maximumRecords: Int = .max) throws(ImportFileError) -> CSVTable {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) || (bytes.count >= 2 && bytes.prefix(200).filter({ $0 == 0 }).count * 4 >= min(bytes.count, 200)) {
            throw ImportFileError([ImportFileIssue(line: nil, code: "not_utf8", message: "The file is UTF-16; save it as UTF-8 (CSV UTF-8) and upload it again.")])
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        // The fast check first; only a refused file is walked again to say where.
        if String(validating: bytes, as: UTF8.self) == nil, let bad = firstInvalidUTF8(bytes) {
            let lineStart = bytes[..<bad].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            let line = bytes[..<bad].count { $0 == UInt8(ascii: "\n") } + 1
            let byte = String(bytes[bad], radix: 16, uppercase: true)
            throw ImportFileError([ImportFileIssue(line: line, code: "not_utf8", message:
                "The file is not valid UTF-8: line \(line), byte \(bad - lineStart + 1) of the line is 0x\(byte.count == 1 ? "0" + byte : byte). "
                + "Save it as UTF-8 (CSV UTF-8) and upload it again.")])
        }
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        var records: [(line: Int, cells: [String])] = []
        var issues: [ImportFileIssue] = []
        var unlisted = 0
        var tooManyRecords = false
        var lastReported: (line: Int?, code: String)?
        func report(_ line: Int?, _ code: String, _ message: String) {
            if let last = lastReported, last.line == line, last.code == code { return }
            lastReported = (line, code)
            if issues.count < ImportFileError.maximumIssues { issues.append(ImportFileIssue(line: line, code: code, message: message)) } else { unlisted += 1 }
        }
        var cells: [String] = []
        var cell: [UInt8] = []
        cell.reserveCapacity(256)
        var inQuotes = false
        var quotedCell = false
        var line = 1
        var recordLine = 1
        var recordHasContent = false

        func endCell() {
            if !cell.isEmpty || quotedCell { recordHasContent = true }
            var start = 0, end = cell.count
            while start < end, cell[start] == space || cell[start] == tab { start += 1 }
            while end > start, cell[end - 1] == space || cell[end - 1] == tab { end -= 1 }
            cells.append(String(decoding: cell[start..<end], as: UTF8.self))
            cell.removeAll(keepingCapacity: true)
            quotedCell = false
        }
        func endRecord() {
            endCell()
            let width = cells.count
            if recordHasContent || width > 1 {
                records.append((recordLine, cells))
                if records.count - 1 > maximumRecords { tooManyRecords = true }   // the header is not a data row
            }
            cells = []
            cells.reserveCapacity(width)   // the next record is most likely as wide
            recordHasContent = false
        }

        var i = 0
        let count = bytes.count
        while i < count && !tooManyRecords {
            let c = bytes[i]
            i += 1
            if c == 0 {
                // Valid UTF-8, but no text holds it (and PostgreSQL refuses it): most likely not a text file.
                report(line, "nul_character", "The line holds a NUL character; is this a CSV text file?")
            }
            if inQuotes {
                if c == quote {
                    if i < count, bytes[i] == quote { cell.append(quote); i += 1 } else { inQuotes = false }
                } else {
                    if c == lf { line += 1 }
                    cell.append(c)
                }
                continue
            }
            switch c {
            case comma:
                endCell()
            case cr:
                if i < count, bytes[i] == lf { i += 1 }
                endRecord(); line += 1; recordLine = line
            case lf:
                endRecord(); line += 1; recordLine = line
            case quote:
                if !quotedCell && cell.allSatisfy({ $0 == space || $0 == tab }) {
                    inQuotes = true
                    quotedCell = true
                    cell.removeAll(keepingCapacity: true)
                } else {
                    report(line, "malformed_quoting", "A quote appears inside an unquoted cell; quote the whole cell and double inner quotes (\"\").")
                    cell.append(c)
                }
            default:
                if quotedCell {
                    if c != space && c != tab {
                        report(line, "malformed_quoting", "Text follows a closing quote; double inner quotes (\"\").")
                    }
                } else {
                    cell.append(c)
                }
            }
        }
        if tooManyRecords {
            throw ImportFileError([ImportFileIssue(line: nil, code: "too_many_rows", message: "The file has more than \(maximumRecords) rows; the limit is \(maximumRecords).")])
        }
        if inQuotes {
            report(recordLine, "malformed_quoting", "A quoted cell is never closed.")
        } else if !cell.isEmpty || !cells.isEmpty || quotedCell {
            endRecord()
        }
        if unlisted > 0 {
            issues.append(ImportFileIssue(line: nil, code: "more_problems", message: "… and \(unlisted) more problems; fix the lines above and upload again."))
        }
        if !issues.isEmpty { throw ImportFileError(issues) }
        guard let first = records.first else {
            throw ImportFileError([ImportFileIssue(line: nil, code: "empty_file", message: "The file is empty: it needs a header row and at least one data row.")])
        }
        return CSVTable(header: first.cells, records: Array(records.dropFirst()))
    }
}

extension CSVTable {
    /// One cell as RFC 4180 CSV: quoted when it holds a comma, quote or line break, or starts or ends with a space.
    public static func cell(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            || value.first == " " || value.last == " " || value.first == "\t" || value.last == "\t" else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The whole-upload refusal: every problem found, nothing written.
public struct ImportFileError: Error, Sendable, Equatable {
    /// Problems listed at most; the rest are counted in one last `more_problems` issue.
    public static let maximumIssues = 100
    public var issues: [ImportFileIssue]
    public init(_ issues: [ImportFileIssue]) { self.issues = issues }
}

import Vapor
#if canImport(Glibc)
import Glibc
#endif
import Fluent
import NIOConcurrencyHelpers
import RosterCore
import RosterStore

/// `POST {scope}/imports[?dry_run=true]` (CSV in, `ImportReport` out) and `GET {scope}/members.csv`.
struct RosterImportController: RouteCollection {
    let scope: @Sendable (Request) async throws -> ScopeContext

    /// Largest accepted upload.
    static let maximumBytes = 64 * 1024 * 1024
    /// Most data rows in one file.
    static let maximumRows = 100_000

    func boot(routes: any RoutesBuilder) throws {
        // Streamed: the caller is authenticated and authorized before the body is read (`RosterImport.collectUpload`).
        routes.on(.POST, "imports", body: .stream, use: importCSV)
        routes.get("imports", ":import", "failures.csv", use: failures)
        routes.get("members.csv", use: export)
    }


    /// `mode=sync` (and `change_threshold`, percent, default 10): the threshold of a sync import; nil for `mode=import`
    /// (the default). Anything else is 422, never a silent ordinary import.
    static func syncThreshold(_ req: Request) throws(RosterError) -> Int? {
        let mode = req.query[String.self, at: "mode"] ?? "import"
        let raw = req.query[String.self, at: "change_threshold"]
        switch mode {
        case "import":
            if raw != nil { throw RosterError.validation([FieldIssue(field: "change_threshold", message: "is for mode=sync only")]) }
            return nil
        case "sync":
            guard let raw else { return SyncOptions.defaultChangeThreshold }
            guard let value = Int(raw), (0...100).contains(value) else {
                throw RosterError.validation([FieldIssue(field: "change_threshold", message: "must be a whole percentage from 0 to 100")])
            }
            return value
        default:
            throw RosterError.validation([FieldIssue(field: "mode", message: "must be import or sync")])
        }
    }

    /// A `multipart/form-data` upload: the CSV is the part named `file`.
    struct FileUpload: Content { var file: File }

    @Sendable func importCSV(req: Request) async throws -> Response {
        let context = try await scope(req)
        try RosterImport.authorize(context)
        let dryRun = try req.booleanQuery("dry_run") ?? false
        let changeThreshold = try Self.syncThreshold(req)
        try await RosterImport.collectUpload(req, maximumBytes: Self.maximumBytes)
        let data: Data
        if req.headers.contentType?.type == "multipart", req.headers.contentType?.subType == "form-data" {
            guard let upload = try? req.content.decode(FileUpload.self) else {
                throw RosterError(.invalidFile, "The form has no file; send the CSV as the part named \"file\".",
                                  issues: [FieldIssue(field: "file", message: "missing_file: the form has no part named file.")])
            }
            data = Data(upload.file.data.readableBytesView)
        } else {
            data = Data(req.body.data?.readableBytesView ?? ByteBuffer().readableBytesView)
        }
        var headers = HTTPHeaders()
        headers.contentType = .json
        let body: Data
        do {
            let (table, columns) = try RosterImport.read(data, definitions: context.attributeDefinitions)
            // The report's rows are written as JSON while the import writes to the database (the spare core).
            let encoding = NIOLockedValueBox<Task<[UInt8], Never>?>(nil)
            let report = try await RosterImport.run(table: table, columns: columns, context: context, dryRun: dryRun,
                                                    limits: req.application.roster.limits, on: req.db, requestID: req.id,
                                                    changeThreshold: changeThreshold,
                                            planned: { rows in encoding.withLockedValue { $0 = Task { ImportReport.json(rows: rows) } } })
            if let id = report.id { headers.replaceOrAdd(name: .location, value: "\(context.path)/imports/\(id)/failures.csv") }
            body = Data(report.json(encodedRows: await encoding.withLockedValue { $0 }?.value))
        }
        Self.returnFreedMemory()
        return Response(status: .ok, headers: headers, body: .init(data: body))
    }

    /// Gives the memory a large import freed back to the operating system, in the background (it takes ~0.1 s after
    /// 100,000 rows, which the response need not wait for). The C allocator keeps freed pages for reuse, so without
    /// this a server that imported 100,000 rows holds ~250 MB until it exits.
    static func returnFreedMemory() {
        Task.detached(priority: .background) { trimHeap() }
    }

    private static func trimHeap() {
        #if canImport(Glibc)
        // glibc's `malloc_trim`, looked up because Swift's Glibc module does not export <malloc.h>.
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        _ = trim(0)
        #endif
    }

    /// `GET {scope}/imports/{id}/failures.csv`: the failed rows of a stored report (`line,email,reason`).
    @Sendable func failures(req: Request) async throws -> Response {
        let context = try await scope(req)
        try context.authority.require(.importsRun)
        let id = try req.uuidParameter("import")
        guard let csv = try await ImportWriter(req.db).failuresCSV(importID: id, scopeID: context.scope.scopeID) else {
            throw RosterError.notFound
        }
        return Self.csvDownload(csv, filename: "import-\(id)-failures.csv")
    }

    /// The roster (live rows: active members and pending invitations) as CSV the importer reads back.
    @Sendable func export(req: Request) async throws -> Response {
        let context = try await scope(req)
        try context.authority.require(.membersRead)
        let rows = try await ImportWriter(req.db).snapshot(scopeID: context.scope.scopeID)
            .filter { $0.source != .joinRequest }
            .sorted { $0.email < $1.email }
        let keys = context.attributeDefinitions.map(\.key)
        var lines = [(["email", "name", "role", "external_id"] + keys + ["status"]).joined(separator: ",")]
        for row in rows {
            let cells = [row.email, row.name ?? "", row.roleKey, row.externalID ?? ""] + keys.map { row.attributes[$0] ?? "" } + [row.status.rawValue]
            lines.append(cells.map(CSVTable.cell).joined(separator: ","))
        }
        return Self.csvDownload(lines.joined(separator: "\r\n") + "\r\n", filename: "members.csv")
    }

    /// A UTF-8 CSV file to download as `filename`.
    static func csvDownload(_ text: String, filename: String) -> Response {
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "csv", parameters: ["charset": "utf-8"])
        headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename=\"\(filename)\"")
        return Response(status: .ok, headers: headers, body: .init(string: text))
    }
}

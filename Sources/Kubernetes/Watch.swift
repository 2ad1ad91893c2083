import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCKubernetesModels
import IMCStore

/// One event of a watch: its type, the object, and the object's table cells.
struct WatchEvent: Sendable {
    var type: String
    var object: JSON
    var cells: [TableCell]
}

/// Watches: a stream of `{"type": ..., "object": ...}` lines, from the store's revisions (each
/// insert, change and delete of a cache or an instance takes the next one and is kept in the
/// store's history), so that a watch resumes exactly from any resourceVersion the history still
/// holds and is told 410 for one it has forgotten.
extension KubernetesAPI {
    /// Where a watch starts: the objects now (as ADDED) for resourceVersion "" or "0", else the
    /// revision asked; `expired` when the history no longer reaches back to it.
    func watchStart(_ call: Call) async throws -> (since: Int64, fromNow: Bool, expired: KubernetesStatus?) {
        let revisions = try await caches.repository.revisions()
        let asked = call.query["resourceVersion"] ?? ""
        if asked.isEmpty || asked == "0" { return (revisions.current, true, nil) }
        guard let n = Int64(asked), n >= 0 else {
            throw KubernetesStatus.badRequest("resourceVersion \(asked.prefix(40)) is not a resource version")
        }
        if n < revisions.compacted { return (n, false, KubernetesStatus.gone("too old resource version: \(n) (\(revisions.compacted))")) }
        return (n, false, nil)
    }

    /// Streams `initial`, then what `changes(after:)` tells every `watchInterval`, until the
    /// watch's timeout; bookmarks when asked; whitespace between events every 5 s, which notices
    /// a watcher that went away.
    func stream(
        _ call: Call, start: (since: Int64, fromNow: Bool, expired: KubernetesStatus?), initial: [WatchEvent],
        columns: [TableColumnDefinition],
        kind: String, apiVersion: String, changes: @escaping @Sendable (Int64) async throws -> [(revision: Int64, event: WatchEvent?)]
    ) throws -> Response {
        let timeout = call.query["timeoutSeconds"].flatMap(Int.init).map { Duration.seconds(max(1, $0)) } ?? watchTimeout
        let bookmarks = call.flag("allowWatchBookmarks")
        let asTable = call.wantsTable
        let include = try call.includeObject()
        let (repository, interval, bookmarkEvery, changed) = (caches.repository, watchInterval, bookmarkInterval, storeChanged)
        let slot = start.expired == nil ? try streams.acquire(call.account) : nil
        let body = ResponseBody { writer in
            defer { withExtendedLifetime(slot) {} }
            var since = start.since
            var definitionsSent = false
            func line(_ type: String, _ object: JSON) -> ByteBuffer {
                var buffer = ByteBuffer(bytes: (["type": .string(type), "object": object] as JSON).data)
                buffer.writeString("\n")
                return buffer
            }
            func send(_ event: WatchEvent) -> ByteBuffer {
                guard asTable else { return line(event.type, event.object) }
                defer { definitionsSent = true }
                let rv = event.object["metadata"]?["resourceVersion"]?.string ?? "\(since)"
                let table = Tables.table(
                    event.cells, object: event.object, columns: definitionsSent ? [] : columns, revision: rv, include: include)
                return line(event.type, (try? JSONValueEncoder().encode(table)) ?? [:])
            }
            if let expired = start.expired {
                try await writer.write(line("ERROR", expired.object))
                try await writer.finish(nil)
                return
            }
            for event in initial { try await writer.write(send(event)) }
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            var lastWrite = clock.now
            var lastBookmark = clock.now
            while clock.now < deadline {
                await changed.wait(upTo: interval)
                try Task.checkCancellation()
                let current = try await repository.revisions().current
                for (revision, event) in try await changes(since) {
                    since = max(since, revision)
                    guard let event else { continue }
                    try await writer.write(send(event))
                    lastWrite = clock.now
                }
                since = max(since, current)
                if bookmarks, clock.now - lastBookmark >= bookmarkEvery {
                    let mark: JSON = [
                        "kind": .string(kind), "apiVersion": .string(apiVersion), "metadata": ["resourceVersion": .string("\(since)")],
                    ]
                    try await writer.write(line("BOOKMARK", mark))
                    lastBookmark = clock.now
                    lastWrite = clock.now
                } else if clock.now - lastWrite >= .seconds(5) {
                    try await writer.write(ByteBuffer(string: " "))
                    lastWrite = clock.now
                }
            }
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-cache, private"
        return Response(status: .ok, headers: headers, body: body)
    }

    /// A watch of ImageCache objects.
    func watch(_ call: Call) async throws -> Response {
        let selector = try Selector(call)
        let start = try await watchStart(call)
        let now = clock.now()
        let initial =
            await start.fromNow
            ? try all(call.account).map {
                WatchEvent(type: "ADDED", object: ImageCaches.json($0), cells: ImageCaches.row($0.cache, now: now))
            }
            .filter { selector.matches($0.object) } : []
        let (repository, account, clock) = (caches.repository, call.account, self.clock)
        return try stream(
            call, start: start, initial: initial, columns: ImageCaches.columns, kind: Self.resource.kind,
            apiVersion: Self.resource.apiVersion
        ) { since in
            try await repository.changes(account: account, after: since).map { change in
                let object = ImageCaches.json(change.value)
                guard selector.matches(object) else { return (change.revision, nil) }
                return (
                    change.revision,
                    WatchEvent(
                        type: change.kind.watchType, object: object, cells: ImageCaches.row(change.value.cache, now: clock.now()))
                )
            }
        }
    }
}

/// Tables as the API server renders them for `kubectl get`.
enum Tables {
    /// A table of typed objects, each row carrying what `includeObject` asks of its object.
    static func table<Object: HasObjectMeta>(
        _ rows: [(cells: [TableCell], object: Object)], columns: [TableColumnDefinition], revision: String,
        include: IncludeObject
    ) -> Table<RowObject<Object>> {
        Table(
            columns: columns,
            rows: rows.map { row in
                let carried: RowObject<Object> =
                    switch include {
                    case .Object: .object(row.object)
                    case .Metadata: .metadata(PartialObjectMetadata(metadata: row.object.metadata))
                    case .None: .none
                    }
                return TableRow(cells: row.cells, object: carried)
            }, resourceVersion: revision)
    }

    /// A watch event's table of one object, given as the door's JSON.
    static func table(_ cells: [TableCell], object: JSON, columns: [TableColumnDefinition], revision: String, include: IncludeObject)
        -> Table<JSON>
    {
        let carried: JSON =
            switch include {
            case .Object: object
            case .Metadata: ["apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": object["metadata"] ?? [:]]
            case .None: .null
            }
        return Table(columns: columns, rows: [TableRow(cells: cells, object: carried)], resourceVersion: revision)
    }
}

extension StoreChange.Kind {
    /// The watch event's type of a change.
    var watchType: String {
        switch self {
        case .created: "ADDED"
        case .changed: "MODIFIED"
        case .deleted: "DELETED"
        }
    }
}

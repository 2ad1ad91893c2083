import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCInstance
import IMCKubernetesModels
import IMCModel
import IMCStore
import Synchronization

/// Events of caches and Pods, as `kubectl describe`, `kubectl get events` and `kubectl get
/// events -w` read them (with `--field-selector involvedObject.name=...`, `involvedObject.kind`,
/// `type`, `reason`).
extension KubernetesAPI {
    func events(_ call: Call, namespace: String?) async throws -> Response {
        let revision = try await repository.revisions().current
        let selector = try Selector(call)
        if call.isWatch { return try await watchEvents(call, namespace: namespace, selector: selector) }
        let items = try await currentEvents(call.account, namespace: namespace, selector: selector)
        if call.wantsTable {
            let now = clock.now()
            return Self.respond(
                Tables.table(
                    items.map { (Self.eventRow($0, now: now), $0) }, columns: Self.eventColumns, revision: "\(revision)",
                    include: try call.includeObject()))
        }
        return Self.respond(ObjectList(kind: "EventList", apiVersion: "v1", resourceVersion: "\(revision)", items: items))
    }

    /// The events of every cache and Pod the selector's fields allow, in the namespace.
    func currentEvents(_ account: String, namespace: String?, selector: Selector) async throws -> [Event] {
        var items: [Event] = []
        let kind = selector.fields["involvedObject.kind"]
        // Events of cluster-scoped objects live in `default`, as the API server keeps them.
        if namespace == nil || namespace == "default", kind == nil || kind == "ImageCache" {
            let caches: [CacheDocument]
            if let name = selector.fields["involvedObject.name"] {
                caches = try await find(name, account).map { [$0] } ?? []
            } else {
                caches = try await all(account)
            }
            for cache in caches { items += Self.events(of: cache).filter { Self.matches(selector, $0) } }
        }
        if kind == nil || kind == "Pod" {
            let pods = try await pods(account, namespace: namespace).filter { pod in
                selector.fields["involvedObject.name"].map { $0 == pod.name } ?? true
            }
            for pod in pods { items += Self.events(of: pod).filter { Self.matches(selector, $0) } }
        }
        return items
    }

    static func matches(_ selector: Selector, _ event: Event) -> Bool {
        selector.isEmpty || selector.matches((try? JSONValueEncoder().encode(event)) ?? [:])
    }

    /// `kubectl get events -w`: what is there (unless a resourceVersion was given), then each
    /// event as it is recorded (ADDED) or counted again (MODIFIED), from the store's commits of
    /// the caches and instances it is about. Which events a watcher has seen is kept per watch,
    /// from the events there are when it starts: a watch resumed from an old resourceVersion is
    /// told what is new since it started, not the events between that version and then.
    func watchEvents(_ call: Call, namespace: String?, selector: Selector) async throws -> Response {
        guard let instances else { throw KubernetesStatus.pathNotFound(call.path) }
        let start = try await watchStart(call)
        let now = clock.now()
        let existing = try await currentEvents(call.account, namespace: namespace, selector: selector)
        // Resumed from a resourceVersion, the events of objects changed since then are told again
        // from their next change (some twice, none missed); those of unchanged objects are not.
        let told = start.fromNow ? existing : existing.filter { Int64($0.metadata.resourceVersion ?? "") ?? .max <= start.since }
        let seen = Mutex(Dictionary(told.map { ($0.metadata.name ?? "", $0.count) }, uniquingKeysWith: { $1 }))
        let encoder = JSONValueEncoder()
        let initial =
            start.fromNow
            ? existing.map { WatchEvent(type: "ADDED", object: (try? encoder.encode($0)) ?? [:], cells: Self.eventRow($0, now: now)) }
            : []
        let (caches, pods, account, clock) = (self.caches.repository, instances.repository, call.account, self.clock)
        let wantsCaches =
            (namespace == nil || namespace == "default") && [nil, "ImageCache"].contains(selector.fields["involvedObject.kind"])
        let wantsPods = [nil, "Pod"].contains(selector.fields["involvedObject.kind"])
        return try stream(call, start: start, initial: initial, columns: Self.eventColumns, kind: "Event", apiVersion: "v1") { since in
            var changed: [(revision: Int64, events: [Event])] = []
            if wantsCaches {
                for change in try await caches.changes(account: account, after: since) where change.kind != .deleted {
                    changed.append((change.revision, Self.events(of: change.value)))
                }
            }
            if wantsPods {
                for change in try await pods.changes(account: account, after: since)
                where change.kind != .deleted && (namespace == nil || Pods.namespace(change.value) == namespace) {
                    changed.append((change.revision, Self.events(of: change.value)))
                }
            }
            let at = clock.now()
            var out: [(revision: Int64, event: WatchEvent?)] = []
            for (revision, events) in changed.sorted(by: { $0.revision < $1.revision }) {
                out.append((revision, nil))
                for var event in events where Self.matches(selector, event) {
                    let name = event.metadata.name ?? ""
                    let before = seen.withLock { s -> Int? in
                        defer { s[name] = event.count }
                        return s[name]
                    }
                    guard before != event.count else { continue }
                    event.metadata.resourceVersion = "\(revision)"
                    out.append(
                        (
                            revision,
                            WatchEvent(
                                type: before == nil ? "ADDED" : "MODIFIED", object: (try? encoder.encode(event)) ?? [:],
                                cells: Self.eventRow(event, now: at))
                        ))
                }
            }
            return out
        }
    }

    /// The columns of the API server's printer for events.
    static let eventColumns: [TableColumnDefinition] = [
        TableColumnDefinition("Last Seen", "Time since the event was last seen."),
        TableColumnDefinition("Type", "Normal or Warning."),
        TableColumnDefinition("Reason", "Why the event happened, in a word."),
        TableColumnDefinition("Object", "The object the event is about."),
        TableColumnDefinition("Subobject", "The part of the object.", priority: 1),
        TableColumnDefinition("Source", "What reported it.", priority: 1),
        TableColumnDefinition("Message", "What happened."),
        TableColumnDefinition("First Seen", "Time since the event was first seen.", priority: 1),
        TableColumnDefinition("Count", "How many times it happened.", priority: 1),
        TableColumnDefinition("Name", "The event's name.", format: "name", priority: 1),
    ]

    static func eventRow(_ e: Event, now: Date) -> [TableCell] {
        func age(_ text: String) -> TableCell {
            guard let at = Date(rfc3339: text) else { return "<unknown>" }
            return .text(humanDuration(now.timeIntervalSince(at)))
        }
        return [
            age(e.lastTimestamp), .text(e.type), .text(e.reason), .text("\(e.involvedObject.kind.lowercased())/\(e.involvedObject.name)"),
            "", .text(e.source.component), .text(e.message), age(e.firstTimestamp), .integer(Int64(e.count)),
            .text(e.metadata.name ?? ""),
        ]
    }

    static func events(of document: CacheDocument) -> [Event] {
        events(
            document.cache.events, of: ImageCaches.json(document), id: document.cache.id, namespace: "default",
            revision: document.cache.revision)
    }

    /// `events` of an object (`object`, its store id `id`) as core/v1 Events: what `kubectl
    /// describe` lists. Events of a cluster-scoped object live in `default`, as the API server
    /// keeps them.
    static func events(_ events: [CacheEvent], of object: JSON, id: String, namespace: String, revision: Int64?) -> [Event] {
        let name = object["metadata"]?["name"]?.string ?? id
        let involved = ObjectReference(
            apiVersion: object["apiVersion"]?.string ?? "v1", kind: object["kind"]?.string ?? "", name: name,
            namespace: object["metadata"]?["namespace"]?.string, uid: object["metadata"]?["uid"]?.string ?? "")
        return events.enumerated().map { i, event in
            var metadata = ObjectMeta(name: "\(name).\(id).\(i)", namespace: namespace)
            metadata.uid = ImageCaches.uid("\(id)/event/\(i)")
            metadata.resourceVersion = "\(revision ?? 0)"
            metadata.creationTimestamp = timestamp(event.firstTimestamp)
            return Event(
                metadata: metadata, involvedObject: involved, reason: event.reason, message: event.message, type: event.type.rawValue,
                firstTimestamp: timestamp(event.firstTimestamp), lastTimestamp: timestamp(event.lastTimestamp), count: event.count,
                component: "imc")
        }
    }
}

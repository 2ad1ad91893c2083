import Foundation
import HTTPTypes
import Hummingbird
import IMCDocuments
import IMCKubernetesModels
import IMCModel
import IMCStore
import Synchronization

/// ConfigMaps, kept as written (sealed at rest, as every object of the door is), read by Pods'
/// environment when their containers start: `kubectl create configmap`, `apply` (client- and
/// server-side), `get`, `edit`, `patch`, `replace` and `delete`.
extension KubernetesAPI {
    static let configMapKind = "ConfigMap"

    func configMaps(_ call: Call, namespace: String?, rest: [String]) async throws -> Response {
        guard let objects else { throw KubernetesStatus.pathNotFound(call.path) }
        let name = rest.first ?? ""
        switch (call.method, rest.count) {
        case (.get, 0):
            if call.isWatch { return try await watchConfigMaps(call, namespace: namespace) }
            let selector = try Selector(call)
            let items = try await configMapList(call.account, namespace: namespace, selector: selector)
            if call.wantsTable {
                let now = clock.now()
                let rows = items.map { (cells: Self.configMapRow($0, now: now), object: $0) }
                return Self.respond(Tables.table(rows, columns: Self.configMapColumns, revision: "1", include: try call.includeObject()))
            }
            return Self.respond(ObjectList(kind: "ConfigMapList", apiVersion: "v1", resourceVersion: "1", items: items))
        case (.get, 1):
            guard let namespace, let (object, _) = try await storedConfigMap(namespace, name, call.account) else {
                throw KubernetesStatus.notFound(Resource.configMaps, name)
            }
            return Self.respond(object)
        case (.post, 0):
            guard let namespace else { throw KubernetesStatus.notAllowed("create a configmap in a namespace") }
            guard try await namespaceExists(namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.namespaces, namespace)
            }
            let body = try await call.object()
            return try await insertConfigMap(call, body, name: body["metadata"]?["name"]?.string ?? "", namespace: namespace)
        case (.put, 1), (.patch, 1):
            guard let namespace else { throw KubernetesStatus.pathNotFound(call.path) }
            return try await changeConfigMap(call, namespace: namespace, name: name)
        case (.delete, 1):
            guard let namespace, let (object, _) = try await storedConfigMap(namespace, name, call.account) else {
                throw KubernetesStatus.notFound(Resource.configMaps, name)
            }
            try await objects.deleteObject(account: call.account, kind: Self.configMapKind, namespace: namespace, name: name)
            return Self.respond(object)
        default:
            throw KubernetesStatus.notAllowed("the server does not allow this method on configmaps")
        }
    }

    static let configMapColumns = [
        TableColumnDefinition("Name", "Name", format: "name"), TableColumnDefinition("Data", "Keys", type: "integer"),
        TableColumnDefinition("Age", "Age"),
    ]

    static func configMapRow(_ item: ConfigMap, now: Date) -> [TableCell] {
        let created = item.metadata.creationTimestamp.flatMap(Date.init(rfc3339:)) ?? now
        let keys = (item.data?.count ?? 0) + (item.binaryData?.count ?? 0)
        return [.text(item.metadata.name ?? ""), .integer(Int64(keys)), .text(humanDuration(now.timeIntervalSince(created)))]
    }

    /// The ConfigMaps of a namespace (or all) that `selector` takes, by name.
    func configMapList(_ account: String, namespace: String?, selector: Selector) async throws -> [ConfigMap] {
        guard let objects else { return [] }
        return try await objects.objects(account: account, kind: Self.configMapKind, namespace: namespace).compactMap {
            try? JSONDecoder().decode(ConfigMap.self, from: $0.data)
        }.filter { selector.isEmpty || selector.matches((try? JSONValueEncoder().encode($0)) ?? [:]) }
    }

    /// `kubectl get configmaps -w`: each ConfigMap added, changed (its resourceVersion moved) or
    /// deleted, told as it is seen on the store's commits. A ConfigMap's resourceVersion is its
    /// own count of changes, not the store's revision, so a watch starts from what is there when
    /// it starts (listed first as ADDED unless a resourceVersion was given, as kubectl gives the
    /// list's); a change between kubectl's list and its watch is not told, and changes between two
    /// looks at the store are told as one (the last state, which is what an informer keeps).
    func watchConfigMaps(_ call: Call, namespace: String?) async throws -> Response {
        let selector = try Selector(call)
        let (account, encoder) = (call.account, JSONValueEncoder())
        @Sendable func snapshot() async throws -> [String: ConfigMap] {
            Dictionary(
                try await configMapList(account, namespace: namespace, selector: selector).map {
                    ("\($0.metadata.namespace ?? "")/\($0.metadata.name ?? "")", $0)
                }, uniquingKeysWith: { $1 })
        }
        let existing = try await snapshot()
        let asked = call.query["resourceVersion"] ?? ""
        let now = clock.now()
        let initial =
            asked.isEmpty || asked == "0"
            ? existing.sorted { $0.key < $1.key }.map {
                WatchEvent(type: "ADDED", object: (try? encoder.encode($0.value)) ?? [:], cells: Self.configMapRow($0.value, now: now))
            } : []
        let seen = Mutex(existing)
        let start = (since: try await caches.repository.revisions().current, fromNow: true, expired: KubernetesStatus?.none)
        let clock = self.clock
        return try stream(call, start: start, initial: initial, columns: Self.configMapColumns, kind: "ConfigMap", apiVersion: "v1") { _ in
            let current = try await snapshot()
            let before = seen.withLock { s -> [String: ConfigMap] in
                defer { s = current }
                return s
            }
            let at = clock.now()
            func event(_ type: String, _ map: ConfigMap) -> (revision: Int64, event: WatchEvent?) {
                (0, WatchEvent(type: type, object: (try? encoder.encode(map)) ?? [:], cells: Self.configMapRow(map, now: at)))
            }
            var out: [(revision: Int64, event: WatchEvent?)] = []
            for (key, map) in current.sorted(by: { $0.key < $1.key }) {
                if let old = before[key] {
                    if old.metadata.resourceVersion != map.metadata.resourceVersion || old.metadata.uid != map.metadata.uid {
                        out.append(event("MODIFIED", map))
                    }
                } else {
                    out.append(event("ADDED", map))
                }
            }
            for (key, old) in before.sorted(by: { $0.key < $1.key }) where current[key] == nil { out.append(event("DELETED", old)) }
            return out
        }
    }

    /// A new ConfigMap (a POST, or a PUT or server-side apply of one that is not there), checked
    /// and stored; 409 when the name is taken.
    func insertConfigMap(_ call: Call, _ body: JSON, name: String, namespace: String) async throws -> Response {
        guard let objects else { throw KubernetesStatus.pathNotFound(call.path) }
        var map = try Self.checkedConfigMap(body, name: name, namespace: namespace)
        let now = clock.now()
        map.metadata.uid = UUID().uuidString.lowercased()
        map.metadata.resourceVersion = "1"
        map.metadata.creationTimestamp = timestamp(now)
        if call.query["dryRun"] == "All" { return Self.respond(map, code: 201) }
        do {
            try await objects.insertObject(
                StoredObject(
                    kind: Self.configMapKind, namespace: namespace, name: name, uid: map.metadata.uid ?? "", created: now,
                    data: try JSONValueEncoder().encode(map).data), account: call.account)
        } catch let e as StoreError where e.code == .duplicate {
            throw KubernetesStatus.alreadyExists(Resource.configMaps, name)
        }
        return Self.respond(map, code: 201)
    }

    func storedConfigMap(_ namespace: String, _ name: String, _ account: String) async throws -> (ConfigMap, Data)? {
        guard let stored = try await objects?.object(account: account, kind: Self.configMapKind, namespace: namespace, name: name),
            let object = try? JSONDecoder().decode(ConfigMap.self, from: stored.data)
        else { return nil }
        return (object, stored.data)
    }

    /// PUT, or PATCH of any type: the result checked as a new one is, its data unchanged when it
    /// is immutable, written only if nothing changed it meanwhile.
    func changeConfigMap(_ call: Call, namespace: String, name: String) async throws -> Response {
        guard let objects else { throw KubernetesStatus.pathNotFound(call.path) }
        let type = call.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let body: JSON
        switch (call.method, type) {
        case (.put, _), (.patch, "application/merge-patch+json"), (.patch, "application/strategic-merge-patch+json"),
            (.patch, "application/apply-patch+yaml"), (.patch, "application/apply-patch+json"):
            body = try await call.object()
        case (.patch, "application/json-patch+json"):
            body = JSON.parse(try await call.body()) ?? .null
            guard body.array != nil else { throw KubernetesStatus.badRequest("a JSON patch is a list of operations") }
        default: throw KubernetesStatus.unsupportedMedia(type)
        }
        let isApply = type.hasPrefix("application/apply-patch")
        guard let (current, stored) = try await storedConfigMap(namespace, name, call.account) else {
            guard isApply || call.method == .put else { throw KubernetesStatus.notFound(Resource.configMaps, name) }
            // Server-side apply (and PUT) of one that is not there creates it.
            guard try await namespaceExists(namespace, call.account) else {
                throw KubernetesStatus.notFound(Resource.namespaces, namespace)
            }
            return try await insertConfigMap(call, body, name: name, namespace: namespace)
        }
        let currentJSON = try JSONValueEncoder().encode(current)
        var desired: JSON
        switch (call.method, type) {
        case (.put, _): desired = body
        case (.patch, "application/json-patch+json"): desired = try JSONPatch.apply(body.array ?? [], to: currentJSON)
        case (.patch, _) where isApply:
            // The applier's data is the data; labels and annotations it names are set.
            desired = currentJSON
            for key in ["data", "binaryData", "immutable"] { desired[key] = body[key] }
            var metadata = desired["metadata"] ?? [:]
            for key in ["labels", "annotations"] {
                if let given = body["metadata"]?[key]?.object {
                    metadata[key] = .object((metadata[key]?.object ?? [:]).merging(given) { $1 })
                }
            }
            desired["metadata"] = metadata
        default: desired = currentJSON.merging(patch: body)
        }
        if let version = desired["metadata"]?["resourceVersion"]?.string, !version.isEmpty, version != current.metadata.resourceVersion {
            throw KubernetesStatus.conflict(
                Resource.configMaps, name, "the object has been modified; please apply your changes to the latest version and try again")
        }
        for key in ["name", "namespace", "uid"] {
            if let given = desired["metadata"]?[key], given != .null, given != currentJSON["metadata"]?[key] {
                throw KubernetesStatus.invalid(
                    Resource.configMaps, name, causes: [("metadata.\(key)", "Invalid value: field is immutable")])
            }
        }
        var map = try Self.checkedConfigMap(desired, name: name, namespace: namespace)
        if current.immutable == true {
            if map.data != current.data || map.binaryData != current.binaryData {
                throw KubernetesStatus.invalid(
                    Resource.configMaps, name, causes: [("data", "Forbidden: field is immutable when `immutable` is set")])
            }
            if map.immutable != true {
                throw KubernetesStatus.invalid(
                    Resource.configMaps, name, causes: [("immutable", "Forbidden: field is immutable when `immutable` is set")])
            }
        }
        map.metadata.uid = current.metadata.uid
        map.metadata.creationTimestamp = current.metadata.creationTimestamp
        map.metadata.resourceVersion = "\((Int(current.metadata.resourceVersion ?? "1") ?? 1) + 1)"
        if call.query["dryRun"] == "All" { return Self.respond(map) }
        let replaced = try await objects.replaceObject(
            StoredObject(
                kind: Self.configMapKind, namespace: namespace, name: name, uid: current.metadata.uid ?? "", created: clock.now(),
                data: try JSONValueEncoder().encode(map).data), expected: stored, account: call.account)
        guard replaced else {
            throw KubernetesStatus.conflict(
                Resource.configMaps, name, "the object has been modified; please apply your changes to the latest version and try again")
        }
        return Self.respond(map)
    }

    /// A ConfigMap as sent, typed (a field it has not is refused by its path) and checked as
    /// the API server checks it: its name, its keys, base64 binary data, at most 1 MiB.
    static func checkedConfigMap(_ body: JSON, name: String, namespace: String) throws -> ConfigMap {
        if let problem = nameProblem(name) {
            throw KubernetesStatus.invalid(Resource.configMaps, name, causes: [("metadata.name", problem)])
        }
        var map: ConfigMap
        do throws(DecodingProblem) { map = try StrictDecoder().decode(ConfigMap.self, from: body) } catch {
            throw refusal(error, of: Resource.configMaps, name: name)
        }
        var causes: [(field: String, message: String)] = []
        var size = 0
        for (key, value) in (map.data ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let problem = configKeyProblem(key) { causes.append(("data[\(key.prefix(60))]", problem)) }
            size += key.utf8.count + value.utf8.count
        }
        for (key, value) in (map.binaryData ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let problem = configKeyProblem(key) { causes.append(("binaryData[\(key.prefix(60))]", problem)) }
            if map.data?[key] != nil { causes.append(("binaryData[\(key.prefix(60))]", "Invalid value: duplicate of a key in data")) }
            if Data(base64Encoded: value) == nil { causes.append(("binaryData[\(key.prefix(60))]", "Invalid value: not base64")) }
            size += key.utf8.count + value.utf8.count
        }
        if size > 1 << 20 { causes.append(("data", "Too long: must have at most 1048576 bytes")) }
        for (key, value) in (map.metadata.labels ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let p = MetadataRules.qualifiedNameProblem(key) ?? MetadataRules.labelValueProblem(value) {
                causes.append(("metadata.labels", p))
            }
        }
        guard causes.isEmpty else { throw KubernetesStatus.invalid(Resource.configMaps, name, causes: causes) }
        map.apiVersion = "v1"
        map.kind = "ConfigMap"
        map.metadata.name = name
        map.metadata.namespace = namespace
        map.metadata.generateName = nil
        return map
    }

    /// A key of a ConfigMap or Secret: `[-._a-zA-Z0-9]+`, at most 253, not `.` or `..`.
    static func configKeyProblem(_ key: String) -> String? {
        let ok =
            !key.isEmpty && key.utf8.count <= 253 && key != "." && key != ".."
            && key.utf8.allSatisfy {
                ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 || $0 == 95
            }
        return ok
            ? nil : "Invalid value: \"\(key.prefix(60))\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
    }
}

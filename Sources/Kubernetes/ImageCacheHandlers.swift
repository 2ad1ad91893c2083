import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCCaches
import IMCDocuments
import IMCKubernetesModels
import IMCModel
import IMCServiceSupport
import IMCStore

/// `ImageCache` objects: the verbs kubectl and client libraries use on them.
extension KubernetesAPI {
    static let resource = Resource.imageCaches

    func imageCaches(_ call: Call, rest: [String]) async throws -> Response {
        let name = rest.first ?? ""
        switch (call.method, rest.count, rest.count == 2 ? rest[1] : "") {
        case (.get, 0, _): return await call.isWatch ? try watch(call) : try list(call)
        case (.post, 0, _): return try await create(call)
        case (.get, 1, _), (.get, 2, "status"):
            guard let cache = try await find(name, call.account) else { throw KubernetesStatus.notFound(Self.resource, name) }
            if call.wantsTable { return Self.respond(try table([cache], revision: cache.cache.revision ?? 0, call: call)) }
            return Self.respond(ImageCaches.object(cache))
        case (.put, 1, _): return try await update(call, name: name, object: try await call.object())
        case (.patch, 1, _): return try await patch(call, name: name)
        case (.delete, 1, _): return try await delete(call, name: name)
        case (.put, 2, "status"), (.patch, 2, "status"):
            throw KubernetesStatus.notAllowed("the status of an ImageCache is written by imc only (its build), not by clients")
        case (.delete, 0, _):
            throw KubernetesStatus.notAllowed("delete ImageCaches by name (kubectl delete imagecache NAME, or --all, which names each)")
        default: throw KubernetesStatus.pathNotFound(call.path)
        }
    }

    var repository: any CacheRepository { caches.repository }

    /// The cache of that name, with the metadata of its object.
    func find(_ name: String, _ account: String) async throws -> CacheDocument? {
        var query = CacheQuery()
        query.names = [name]
        query.limit = 1
        return try await repository.documents(account: account, query: query).documents.first
    }

    /// Every cache of the account, by name, with the metadata of its object.
    func all(_ account: String) async throws -> [CacheDocument] {
        var query = CacheQuery()
        query.limit = Int(Int32.max)
        return try await repository.documents(account: account, query: query).documents.sorted { $0.cache.name < $1.cache.name }
    }

    // MARK: - Reading

    func list(_ call: Call) async throws -> Response {
        // The revision first: the list is at least that new, so a watch from it misses nothing.
        let revision = try await repository.revisions().current
        let selector = try Selector(call)
        let matching = try await all(call.account).filter { selector.isEmpty || selector.matches(ImageCaches.json($0)) }
        let (items, next, remaining) = try Paging.page(matching, key: \.cache.name, call: call)
        if call.wantsTable {
            var out = try table(items, revision: revision, call: call)
            out.metadata.continue = next
            out.metadata.remainingItemCount = next == nil ? nil : remaining
            return Self.respond(out)
        }
        var out = List.of(items.map(ImageCaches.object), kind: "ImageCacheList", apiVersion: Self.resource.apiVersion, revision: revision)
        out.continues(from: next, remaining: remaining)
        return Self.respond(out)
    }

    func table(_ items: [CacheDocument], revision: Int64, call: Call) throws -> Table<RowObject<ImageCacheObject>> {
        let now = clock.now()
        return Tables.table(
            items.map { (ImageCaches.row($0.cache, now: now), ImageCaches.object($0)) }, columns: ImageCaches.columns,
            revision: "\(revision)",
            include: try call.includeObject())
    }

    /// Events of caches (`kubectl describe` asks for those of one object by field selector).
    // MARK: - Writing

    /// What an object's fields ask, checked: its name, labels, annotations and spec.
    struct Incoming {
        var name: String
        var labels: [String: String]
        var annotations: [String: String]
        var resourceVersion: Int64?
        var spec: ImageCacheSpec
        var unknown: [String]
    }

    func incoming(_ object: JSON, call: Call, nameOnPath: String?) throws -> Incoming {
        var errors = FieldErrors()
        if let v = object["apiVersion"]?.string, v != Self.resource.apiVersion {
            throw KubernetesStatus.badRequest(
                "the API version in the data (\(v.prefix(80))) does not match the expected API version (\(Self.resource.apiVersion))")
        }
        if let k = object["kind"]?.string, k != Self.resource.kind {
            throw KubernetesStatus.badRequest(
                "the kind in the data (\(k.prefix(80))) does not match the expected kind (\(Self.resource.kind))")
        }
        let metadata = object["metadata"]
        let name = metadata?["name"]?.string ?? nameOnPath ?? ""
        if let nameOnPath, name != nameOnPath {
            throw KubernetesStatus.badRequest(
                "the name of the object (\(name.prefix(80))) does not match the name on the URL (\(nameOnPath.prefix(80)))")
        }
        if let problem = Self.nameProblem(name) { errors.add("metadata.name", problem) }
        let labels = metadata?["labels"].flatMap { $0 == .null ? [:] : $0.stringMap }
        if metadata?["labels"] != nil, labels == nil { errors.add("metadata.labels", "Invalid value: labels are a map of strings") }
        let annotations = metadata?["annotations"].flatMap { $0 == .null ? [:] : $0.stringMap }
        if metadata?["annotations"] != nil, annotations == nil {
            errors.add("metadata.annotations", "Invalid value: annotations are a map of strings")
        }
        if let a = annotations, a.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count }) > 262_144 {
            errors.add("metadata.annotations", "Too long: must have at most 262144 bytes")
        }
        var unknown = (object.object ?? [:]).keys.filter { !["apiVersion", "kind", "metadata", "spec", "status"].contains($0) }.sorted()
        let spec = ImageCaches.spec(object["spec"], schema: schema, unknown: &unknown)
        switch spec {
        case .failure(let e): errors.causes += e.causes
        case .success: break
        }
        if !errors.causes.isEmpty { throw KubernetesStatus.invalid(Self.resource, name, causes: errors.causes) }
        guard case .success(let s) = spec else { throw KubernetesStatus.internalError() }
        var revision: Int64?
        if let rv = metadata?["resourceVersion"]?.string, !rv.isEmpty {
            guard let n = Int64(rv) else {
                throw KubernetesStatus.badRequest("metadata.resourceVersion \(rv.prefix(40)) is not a resource version")
            }
            revision = n
        }
        let checked = Incoming(
            name: name, labels: labels ?? [:], annotations: annotations ?? [:], resourceVersion: revision, spec: s, unknown: unknown)
        if !unknown.isEmpty, (call.query["fieldValidation"] ?? "Warn") == "Strict" {
            throw KubernetesStatus.badRequest(
                "strict decoding error: " + unknown.map { "unknown field \"\($0)\"" }.joined(separator: ", "))
        }
        return checked
    }

    /// Why `name` is not a Kubernetes object name (a DNS subdomain, here at most 60 characters,
    /// as ImageCacheName), or nil.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "Required value: name is required" }
        let allowed = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
        let ends = name.first.map { $0.isLetter || $0.isNumber } == true && name.last.map { $0.isLetter || $0.isNumber } == true
        if !allowed || !ends || name.count > 60 {
            return
                "Invalid value: \"\(name.prefix(80))\": a lowercase RFC 1123 subdomain of at most 60 characters must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        }
        return nil
    }

    static func missingSecrets(_ missing: [String]) -> [String] {
        missing.map {
            "imagePullSecrets \($0) not found (or not a kubernetes.io/dockerconfigjson secret); the images are pulled without it"
        }
    }

    func warnings(_ incoming: Incoming, call: Call) -> [String] {
        (call.query["fieldValidation"] ?? "Warn") == "Ignore" ? [] : incoming.unknown.map { "unknown field \"\($0)\"" }
    }

    func create(_ call: Call) async throws -> Response {
        let object = try await call.object()
        let incoming = try incoming(object, call: call, nameOnPath: nil)
        if try await find(incoming.name, call.account) != nil { throw KubernetesStatus.alreadyExists(Self.resource, incoming.name) }
        return try await make(call, object: object, incoming: incoming)
    }

    /// Makes the cache a checked object asks for (a POST, or a server-side apply of a new name).
    func make(_ call: Call, object: JSON, incoming: Incoming) async throws -> Response {
        var request = CacheRequest()
        request.name = incoming.name
        request.images = incoming.spec.images
        request.size = incoming.spec.imageCacheSize
        request.retentionDays = incoming.spec.retentionDays
        request.refreshMinutes = incoming.spec.refreshIntervalMinutes
        request.platform = incoming.spec.platform
        request.autoCreateEipAttribute = incoming.annotations["eks.tke.cloud.tencent.com/eip-attributes"]
        request.kubernetes = KubernetesMetadata(
            uid: UUID().uuidString.lowercased(), labels: incoming.labels, annotations: incoming.annotations, generation: 1,
            imagePullSecrets: incoming.spec.pullSecrets)
        let (found, missing) = try await credentials(incoming.spec.pullSecrets, account: call.account)
        request.credentials = found
        let warned = warnings(incoming, call: call) + Self.missingSecrets(missing)
        if call.query["dryRun"] == "All" { return Self.respond(object, code: 201, warnings: warned) }
        let made = try await mapped(incoming.name) { try await caches.create(request, account: call.account, region: region) }
        var query = CacheQuery()
        query.ids = [made.id]
        let stored =
            try await repository.documents(account: call.account, query: query).documents.first
            ?? CacheDocument(cache: made, kubernetes: request.kubernetes)
        return Self.respond(ImageCaches.object(stored), code: 201, warnings: warned)
    }

    /// PUT: the object replaces what the cache was asked for (a field left out is its default).
    func update(_ call: Call, name: String, object: JSON, createIfMissing: Bool = false) async throws -> Response {
        let incoming = try incoming(object, call: call, nameOnPath: name)
        guard let found = try await find(name, call.account) else {
            if createIfMissing { return try await make(call, object: object, incoming: incoming) }
            throw KubernetesStatus.notFound(Self.resource, name)
        }
        let current = found.cache
        if let p = incoming.spec.platform, p != (current.platform ?? p) {
            throw KubernetesStatus.invalid(Self.resource, name, causes: [("spec.platform", "Invalid value: \"\(p)\": field is immutable")])
        }
        let old = found.kubernetes ?? KubernetesMetadata(uid: ImageCaches.uid(current.id))
        let spec = incoming.spec
        let specChanged =
            spec.images != current.images || (spec.imageCacheSize ?? caches.limits.defaultSize) != current.size
            || (spec.retentionDays ?? 0) != current.retentionDays || (spec.refreshIntervalMinutes ?? 0) != (current.refreshMinutes ?? 0)
            || spec.pullSecrets != old.imagePullSecrets
        var request = CacheRequest()
        request.images = spec.images == current.images ? nil : spec.images
        let size = spec.imageCacheSize ?? caches.limits.defaultSize
        request.size = size == current.size ? nil : size
        request.retentionDays = spec.retentionDays ?? 0
        request.refreshMinutes = spec.refreshIntervalMinutes ?? 0
        request.autoCreateEipAttribute = incoming.annotations["eks.tke.cloud.tencent.com/eip-attributes"]
        request.kubernetes = KubernetesMetadata(
            uid: old.uid, labels: incoming.labels, annotations: incoming.annotations, generation: old.generation + (specChanged ? 1 : 0),
            imagePullSecrets: spec.pullSecrets)
        request.expectedRevision = incoming.resourceVersion
        request.queueWhileBuilding = true  // declarative: the object says what it wants, whenever
        // The secrets' credentials, when the object names secrets or named them before (a
        // cache given credentials through the Cloud API keeps them).
        var warned = warnings(incoming, call: call)
        if !spec.pullSecrets.isEmpty || !old.imagePullSecrets.isEmpty {
            let (found, missing) = try await credentials(spec.pullSecrets, account: call.account)
            request.credentials = found
            warned += Self.missingSecrets(missing)
        }
        if call.query["dryRun"] == "All" { return Self.respond(ImageCaches.object(found), warnings: warned) }
        let updated = try await mapped(name) { try await caches.update(id: current.id, request, account: call.account) }
        return Self.respond(ImageCaches.object(CacheDocument(cache: updated, kubernetes: request.kubernetes)), warnings: warned)
    }

    /// PATCH: a JSON merge patch (kubectl apply, kubectl patch --type merge), a JSON patch, or
    /// server-side apply (the applied object's spec replaces the cache's; labels and annotations
    /// it names are set).
    func patch(_ call: Call, name: String) async throws -> Response {
        let type = call.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        switch type {
        case "application/merge-patch+json":
            let patch = try await call.object()
            guard let current = try await find(name, call.account) else { throw KubernetesStatus.notFound(Self.resource, name) }
            var merged = ImageCaches.json(current).merging(patch: patch)
            merged["status"] = nil
            return try await update(call, name: name, object: merged)
        case "application/json-patch+json":
            guard let operations = JSON.parse(try await call.body())?.array else {
                throw KubernetesStatus.badRequest("a JSON patch is a list of operations")
            }
            guard let current = try await find(name, call.account) else { throw KubernetesStatus.notFound(Self.resource, name) }
            var patched = try JSONPatch.apply(operations, to: ImageCaches.json(current))
            patched["status"] = nil
            return try await update(call, name: name, object: patched)
        case "application/apply-patch+yaml", "application/apply-patch+json":
            let applied = try await call.object()
            guard let current = try await find(name, call.account) else {
                return try await update(call, name: name, object: applied, createIfMissing: true)
            }
            var merged = ImageCaches.json(current)
            // The applier's spec is the spec (a field it no longer names is reset); an apply
            // without one (kubectl moving its last-applied annotation) leaves the spec alone.
            if let spec = applied["spec"] { merged["spec"] = spec }
            var metadata = merged["metadata"] ?? [:]
            for key in ["labels", "annotations"] {
                if let given = applied["metadata"]?[key]?.object {
                    metadata[key] = .object((metadata[key]?.object ?? [:]).merging(given) { $1 })
                }
            }
            if let rv = applied["metadata"]?["resourceVersion"] {
                metadata["resourceVersion"] = rv
            } else {
                metadata["resourceVersion"] = nil
            }
            merged["metadata"] = metadata
            merged["status"] = nil
            return try await update(call, name: name, object: merged)
        case "application/strategic-merge-patch+json":
            throw KubernetesStatus.unsupportedMedia(
                "strategic merge patch is not supported for ImageCache (a custom resource); use --type merge or --type json")
        default:
            throw KubernetesStatus.unsupportedMedia(type)
        }
    }

    func delete(_ call: Call, name: String) async throws -> Response {
        guard let cache = try await find(name, call.account) else { throw KubernetesStatus.notFound(Self.resource, name) }
        if call.query["dryRun"] == "All" { return Self.respond(ImageCaches.object(cache)) }
        _ = try await mapped(name) { try await caches.delete(ids: [cache.cache.id], account: call.account) }
        return Self.respond(ImageCaches.object(cache))
    }

    /// The object's field a service refusal names (`Images[2]` is `spec.images[2]`).
    static func specPath(_ field: FieldPath?) -> String {
        guard let field, let root = field.root else { return "spec" }
        let names = [
            "Images": "spec.images", "ImageCacheSize": "spec.imageCacheSize", "RetentionDays": "spec.retentionDays",
            "RefreshIntervalMinutes": "spec.refreshIntervalMinutes", "Platform": "spec.platform", "ImageCacheName": "metadata.name",
            "ImageRegistryCredentials": "spec.imagePullSecrets",
        ]
        guard let name = names[root] else { return "spec" }
        return FieldPath([.key(name)] + field.components.dropFirst()).description
    }

    /// The services' refusals in Kubernetes' terms.
    func mapped<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as ServiceError {
            switch e.code {
            case .invalidValue, .missing: throw KubernetesStatus.invalid(Self.resource, name, causes: [(Self.specPath(e.field), e.message)])
            case .notFound: throw KubernetesStatus.notFound(Self.resource, name)
            case .conflict: throw KubernetesStatus.conflict(Self.resource, name, e.message)
            case .inUse:
                if e.field?.root == "ImageCacheName" { throw KubernetesStatus.alreadyExists(Self.resource, name) }
                throw KubernetesStatus.conflict(Self.resource, name, e.message)
            case .limitExceeded:
                throw KubernetesStatus(
                    code: 403, reason: "Forbidden", message: "imagecaches \"\(name)\" is forbidden: exceeded quota: \(e.message)")
            case .failed, .diskTooSmall, .secretUnreadable: throw KubernetesStatus.internalError()
            }
        }
    }
}

import Foundation
import IMCCache
import IMCModel

/// An image cache as the `ImageCache` object of `eks.cloud.tencent.com/v1` (the seed's custom
/// resource): `spec` is what was asked for, `status` what imc made of it.
enum ImageCacheObject {
    static let resource = Resource.imageCaches

    /// The object of `cache`, with its resource version and status.
    static func object(_ cache: ImageCache) -> JSON {
        let meta = cache.kubernetes ?? KubernetesMetadata(uid: uid(cache.id))
        var metadata: JSON = [
            "name": .string(cache.name), "uid": .string(meta.uid), "resourceVersion": .string("\(cache.revision ?? 0)"),
            "generation": .int(Int64(meta.generation)), "creationTimestamp": .string(timestamp(cache.creationTime)),
        ]
        if !meta.labels.isEmpty { metadata["labels"] = .object(meta.labels.mapValues(JSON.string)) }
        if !meta.annotations.isEmpty { metadata["annotations"] = .object(meta.annotations.mapValues(JSON.string)) }
        var spec: JSON = [
            "images": .array(cache.images.map(JSON.string)), "imageCacheSize": .int(Int64(cache.size)),
            "retentionDays": .int(Int64(cache.retentionDays)),
        ]
        if let m = cache.refreshMinutes { spec["refreshIntervalMinutes"] = .int(Int64(m)) }
        if let p = cache.platform { spec["platform"] = .string(p) }
        if !meta.imagePullSecrets.isEmpty { spec["imagePullSecrets"] = .array(meta.imagePullSecrets.map(JSON.string)) }
        return [
            "apiVersion": .string(resource.apiVersion), "kind": .string(resource.kind), "metadata": metadata, "spec": spec,
            "status": status(cache, generation: meta.generation),
        ]
    }

    /// `status`: the cache's id, phase and snapshot, its progress, and a `Ready` condition (true
    /// once built; `kubectl wait --for=condition=Ready` waits for it).
    static func status(_ cache: ImageCache, generation: Int) -> JSON {
        var status: JSON = [
            "imcId": .string(cache.id), "imcPhase": .string(cache.status.rawValue), "observedGeneration": .int(Int64(generation)),
        ]
        if let s = cache.snapshotID { status["snapshotId"] = .string(s) }
        if let p = cache.buildPercent ?? (cache.status == .ready ? 100 : nil) { status["progress"] = .int(Int64(p)) }
        if let t = cache.lastMatchedTime { status["lastMatchedTime"] = .string(timestamp(t)) }
        if let t = cache.expireDateTime { status["expireTime"] = .string(timestamp(t)) }
        let last = cache.events.last
        let warning = cache.events.last { $0.type == .warning }
        let ready = cache.status == .ready
        let reason: String
        let message: String
        switch cache.status {
        case .ready: (reason, message) = ("Ready", last?.message ?? "built")
        case .pending: (reason, message) = ("Building", last?.message ?? "waiting for a builder")
        case .updating: (reason, message) = ("Updating", (last?.message ?? "rebuilding") + "; the previous snapshot serves meanwhile")
        case .failed: (reason, message) = ("Failed", warning?.message ?? last?.message ?? "the build failed")
        case .updateFailed: (reason, message) = ("UpdateFailed", warning?.message ?? "the update failed; the previous snapshot serves")
        }
        let changed = cache.events.last { ["Creating", "Updating", "Ready", "Failed"].contains($0.reason) || $0.type == .warning }
        var conditions: [JSON] = [
            [
                "type": "Ready", "status": ready ? "True" : "False", "reason": .string(reason), "message": .string(message),
                "lastTransitionTime": .string(timestamp(changed?.lastTimestamp ?? cache.creationTime)),
            ]
        ]
        conditions.append(
            [
                "type": "Serving", "status": cache.snapshotID != nil && CacheStatus.serving.contains(cache.status) ? "True" : "False",
                "reason": .string(cache.snapshotID == nil ? "NoSnapshot" : "SnapshotServing"),
                "message": .string(cache.snapshotID.map { "snapshot \($0) serves instances" } ?? "no snapshot yet"),
                "lastTransitionTime": .string(timestamp(changed?.lastTimestamp ?? cache.creationTime)),
            ])
        status["conditions"] = .array(conditions)
        return status
    }

    /// A stable uid for a cache made elsewhere (the Cloud API): the same every time it is read.
    static func uid(_ id: String) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in id.utf8 {
            a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
            b = (b ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 7
        }
        let hex = String(format: "%016llx%016llx", a, b)
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-8\(String(c[17..<20]))-\(String(c[20..<32]))"
    }

    /// The fields of `spec`, checked; every problem names its field.
    struct Spec: Equatable {
        var images: [String]
        var imageCacheSize: Int?
        var retentionDays: Int?
        var refreshIntervalMinutes: Int?
        var platform: String?
        var imagePullSecrets: [String]
    }

    /// Reads `spec`, checked against `schema` (the CRD's, with the configuration's limits).
    /// `unknown` collects fields ImageCache does not have (refused or warned about by the
    /// caller, as `fieldValidation` says).
    static func spec(_ json: JSON?, schema: ImageCacheSchema, unknown: inout [String]) -> Result<Spec, FieldErrors> {
        let errors = schema.check(spec: json, unknown: &unknown)
        if !errors.causes.isEmpty { return .failure(errors) }
        let spec = json ?? [:]
        func integer(_ key: String) -> Int? { spec[key]?.int.map(Int.init) }
        return .success(
            Spec(
                images: spec["images"]?.array?.compactMap(\.string) ?? [], imageCacheSize: integer("imageCacheSize"),
                retentionDays: integer("retentionDays"), refreshIntervalMinutes: integer("refreshIntervalMinutes"),
                platform: spec["platform"]?.string, imagePullSecrets: spec["imagePullSecrets"]?.array?.compactMap(\.string) ?? []))
    }

    /// The table `kubectl get` prints: NAME, SIZE, ID, PHASE, AGE (wide adds SNAPSHOT and
    /// PROGRESS).
    static let columns: [JSON] = [
        column("Name", "string", "name", "The cache's name (ImageCacheName).", priority: 0),
        column("Size", "integer", "", "The cache disk's size in GiB.", priority: 0),
        column("ID", "string", "", "The image cache's id.", priority: 0),
        column("Phase", "string", "", "Pending, Ready, Failed, Updating or UpdateFailed.", priority: 0),
        column("Age", "string", "", "Time since the cache was created.", priority: 0),
        column("Snapshot", "string", "", "The snapshot that serves instances.", priority: 1),
        column("Progress", "string", "", "How far the build has come.", priority: 1),
    ]

    static func column(_ name: String, _ type: String, _ format: String, _ description: String, priority: Int) -> JSON {
        [
            "name": .string(name), "type": .string(type), "format": .string(format), "description": .string(description),
            "priority": .int(Int64(priority)),
        ]
    }

    static func row(_ cache: ImageCache, now: Date) -> [JSON] {
        [
            .string(cache.name), .int(Int64(cache.size)), .string(cache.id), .string(cache.status.rawValue),
            .string(humanDuration(now.timeIntervalSince(cache.creationTime))), .string(cache.snapshotID ?? "<none>"),
            .string(cache.buildPercent.map { "\($0)%" } ?? (cache.status == .ready ? "100%" : "<none>")),
        ]
    }
}

/// Problems found in an object, each with its field path.
struct FieldErrors: Error {
    var causes: [(field: String, message: String)] = []
    mutating func add(_ field: String, _ message: String) { causes.append((field, message)) }
}

/// RFC 3339 in UTC, to the second, as Kubernetes writes times.
func timestamp(_ date: Date) -> String { date.rfc3339 }

/// Kubernetes' human duration (`5m3s`, `2d4h`), as kubectl's AGE column shows it.
func humanDuration(_ interval: TimeInterval) -> String {
    let seconds = Int(interval)
    if seconds < -1 { return "<invalid>" }
    if seconds < 0 { return "0s" }
    if seconds < 120 { return "\(seconds)s" }
    let minutes = seconds / 60
    if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
    if minutes < 180 { return "\(minutes)m" }
    let hours = minutes / 60
    if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
    if hours < 48 { return "\(hours)h" }
    if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
    if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365
        return days == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(days)d"
    }
    return "\(hours / 24 / 365)y"
}

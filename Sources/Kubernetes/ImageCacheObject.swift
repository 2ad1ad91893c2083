import Foundation
import IMCCache
import IMCDocuments
import IMCKubernetesModels
import IMCModel
import IMCStore

/// An image cache as the `ImageCache` object of `eks.cloud.tencent.com/v1` (the seed's custom
/// resource): `spec` is what was asked for, `status` what imc made of it.
enum ImageCaches {
    static let resource = Resource.imageCaches

    /// The object of `cache`, with its resource version and status.
    static func object(_ document: CacheDocument) -> ImageCacheObject {
        let cache = document.cache
        let meta = document.kubernetes ?? KubernetesMetadata(uid: uid(cache.id))
        var metadata = ObjectMeta(
            name: cache.name, labels: meta.labels.isEmpty ? nil : meta.labels,
            annotations: meta.annotations.isEmpty ? nil : meta.annotations)
        metadata.uid = meta.uid
        metadata.resourceVersion = "\(cache.revision ?? 0)"
        metadata.generation = meta.generation
        metadata.creationTimestamp = timestamp(cache.creationTime)
        let spec = ImageCacheSpec(
            images: cache.images, imageCacheSize: cache.size, retentionDays: cache.retentionDays,
            refreshIntervalMinutes: cache.refreshMinutes,
            platform: cache.platform, imagePullSecrets: meta.imagePullSecrets.isEmpty ? nil : meta.imagePullSecrets)
        return ImageCacheObject(
            apiVersion: resource.apiVersion, kind: resource.kind, metadata: metadata, spec: spec,
            status: status(cache, generation: meta.generation))
    }

    /// The object as the door's JSON (for selectors, patches and watches).
    static func json(_ document: CacheDocument) -> JSON { (try? JSONValueEncoder().encode(object(document))) ?? [:] }

    /// `status`: the cache's id, phase and snapshot, its progress, and a `Ready` condition (true
    /// once built; `kubectl wait --for=condition=Ready` waits for it).
    static func status(_ cache: ImageCache, generation: Int) -> ImageCacheStatus {
        var status = ImageCacheStatus(imcId: cache.id, imcPhase: cache.status.rawValue, observedGeneration: generation)
        status.snapshotId = cache.snapshotID
        status.progress = cache.buildPercent ?? (cache.status == .ready ? 100 : nil)
        status.lastMatchedTime = cache.lastMatchedTime.map(timestamp)
        status.expireTime = cache.expireDateTime.map(timestamp)
        let last = cache.events.last
        let warning = cache.events.last { $0.type == .warning }
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
        let at = timestamp(changed?.lastTimestamp ?? cache.creationTime)
        status.conditions = [
            Condition(type: "Ready", cache.status == .ready, reason: reason, message: message, lastTransitionTime: at),
            Condition(
                type: "Serving", cache.snapshotID != nil && CacheStatus.serving.contains(cache.status),
                reason: cache.snapshotID == nil ? "NoSnapshot" : "SnapshotServing",
                message: cache.snapshotID.map { "snapshot \($0) serves instances" } ?? "no snapshot yet", lastTransitionTime: at),
        ]
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

    /// Reads `spec`, checked against `schema` (the CRD's, with the configuration's limits).
    /// `unknown` collects fields ImageCache does not have (refused or warned about by the
    /// caller, as `fieldValidation` says).
    static func spec(_ json: JSON?, schema: ImageCacheSchema, unknown: inout [String]) -> Result<ImageCacheSpec, FieldErrors> {
        let errors = schema.check(spec: json, unknown: &unknown)
        if !errors.causes.isEmpty { return .failure(errors) }
        let spec = json ?? [:]
        func integer(_ key: String) -> Int? { spec[key]?.int.map(Int.init) }
        return .success(
            ImageCacheSpec(
                images: spec["images"]?.array?.compactMap(\.string) ?? [], imageCacheSize: integer("imageCacheSize"),
                retentionDays: integer("retentionDays"), refreshIntervalMinutes: integer("refreshIntervalMinutes"),
                platform: spec["platform"]?.string, imagePullSecrets: spec["imagePullSecrets"]?.array?.compactMap(\.string)))
    }

    /// The table `kubectl get` prints: NAME, SIZE, ID, PHASE, AGE (wide adds SNAPSHOT and
    /// PROGRESS).
    static let columns: [TableColumnDefinition] = [
        TableColumnDefinition("Name", "The cache's name (ImageCacheName).", format: "name"),
        TableColumnDefinition("Size", "The cache disk's size in GiB.", type: "integer"),
        TableColumnDefinition("ID", "The image cache's id."),
        TableColumnDefinition("Phase", "Pending, Ready, Failed, Updating or UpdateFailed."),
        TableColumnDefinition("Age", "Time since the cache was created."),
        TableColumnDefinition("Snapshot", "The snapshot that serves instances.", priority: 1),
        TableColumnDefinition("Progress", "How far the build has come.", priority: 1),
    ]

    static func row(_ cache: ImageCache, now: Date) -> [TableCell] {
        [
            .text(cache.name), .integer(Int64(cache.size)), .text(cache.id), .text(cache.status.rawValue),
            .text(humanDuration(now.timeIntervalSince(cache.creationTime))), .text(cache.snapshotID ?? "<none>"),
            .text(cache.buildPercent.map { "\($0)%" } ?? (cache.status == .ready ? "100%" : "<none>")),
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

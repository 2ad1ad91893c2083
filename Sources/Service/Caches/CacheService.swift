import Foundation
import IMCBillingService
import IMCCache
import IMCDisks
import IMCDocuments
import IMCModel
import IMCServiceSupport
import IMCStore

/// What a user asks for when creating (or updating) a cache, already type-checked by the door.
public struct CacheRequest: Sendable {
    public var name: String?
    public var images: [String]?
    public var size: Int?
    public var retentionDays: Int?
    public var credentials: [CacheCredential]?
    public var tags: [CacheTag]?
    public var subnetID: String?
    public var vpcID: String?
    public var securityGroupIDs: [String]?
    public var existedEipID: String?
    public var autoCreateEip: Bool?
    public var autoCreateEipAttribute: String?
    public var registrySkipVerifyList: [String]?
    public var registryHttpEndPointList: [String]?
    public var resolveConfig: String?
    /// Minutes between checks of the images' tags (0: never).
    public var refreshMinutes: Int?
    /// `os/arch[/variant]` the images are pulled for; the host's when nil. Only at creation.
    public var platform: String?
    /// What the Kubernetes door keeps of the object; unchanged when nil.
    public var kubernetes: KubernetesMetadata?
    /// The update applies only to the cache at this revision (a Kubernetes `resourceVersion`);
    /// otherwise it is a conflict.
    public var expectedRevision: Int64?
    /// A change of images, size or credentials while the cache builds is kept and built right
    /// after (a declarative client's wish), instead of being refused.
    public var queueWhileBuilding = false
    public init() {}
}

/// Limits and defaults of the service (configuration, not code).
public struct CacheLimits: Sendable {
    public var minimumSize = 20
    public var maximumSize = 2048
    public var defaultSize = 20
    public var maximumImages = 100
    public var maximumRetentionDays = 3650
    /// The shortest interval between checks of a cache's tags (each check asks every image's
    /// registry once).
    public var minimumRefreshMinutes = 5
    public init() {}
}

/// The image cache life cycle over a `CacheRepository`: validation, ids, events, matching.
/// Time and ids are injected, so that tests are exact.
public final class CacheService: Sendable {
    public let repository: any CacheRepository
    public let limits: CacheLimits
    /// What one account may hold (caches here; instances and disks in `InstanceService`).
    public let quotas: AccountQuotas
    let ids: any IDGenerator
    let clock: any ServiceClock
    /// Where deleted caches' snapshots go away (nil in tests without disks).
    let snapshots: (any SnapshotStore)?
    /// Rung when a cache needs building, so that a waiting build worker starts at once.
    let builds: Wakeup?
    /// Snapshots stop being billed when their cache goes.
    let meter: Meter

    public init(
        repository: any CacheRepository, limits: CacheLimits = CacheLimits(), quotas: AccountQuotas = AccountQuotas(),
        ids: any IDGenerator = RandomIDGenerator(),
        snapshots: (any SnapshotStore)? = nil, builds: Wakeup? = nil, meter: Meter = .off, clock: any ServiceClock = SystemClock()
    ) {
        self.builds = builds
        self.meter = meter
        self.repository = repository
        self.limits = limits
        self.quotas = quotas
        self.ids = ids
        self.snapshots = snapshots
        self.clock = clock
    }

    /// Validates and records a new cache as Pending; a build worker takes it from there.
    public func create(_ request: CacheRequest, account: String, region: String) async throws -> ImageCache {
        guard let images = request.images else { throw ServiceError.missing("Images", "Images is required") }
        try validate(images: images)
        let size = request.size ?? limits.defaultSize
        try validate(size: size)
        let retention = request.retentionDays ?? 0
        try validate(retentionDays: retention)
        let name = request.name ?? ""
        try validate(name: name)
        if let m = request.refreshMinutes { try validate(refreshMinutes: m) }
        let platform = try request.platform.map(validate(platform:))
        try await checkFree(name: name, account: account, for: nil)
        let usage = try await repository.usage(account: account)
        try AccountQuotas.check("caches", limit: quotas.caches, used: usage.count, more: 1, unit: "", what: "image caches")
        try AccountQuotas.check(
            "cacheDiskGiB", limit: quotas.cacheDiskGiB, used: usage.sizeGiB, more: size, unit: " GiB", what: "of cache disks")
        let id = ids.next(prefix: "imc")
        var cache = ImageCache(
            id: id, account: account, region: region, name: name.isEmpty ? id : name, size: size, images: images, creationTime: clock.now(),
            retentionDays: retention)
        apply(request, to: &cache)
        cache.platform = platform
        cache.record(.creating, "Image cache \(id) accepted: \(images.count) image(s) into a \(size) GiB disk", at: clock.now())
        try await Self.nameTaken { try await repository.insert(cache, kubernetes: request.kubernetes) }
        builds?.signal()
        return cache
    }

    /// Changes a cache. Name, retention and tags change in place; images, size or credentials
    /// make it `Updating` (rebuilt by a worker while the old snapshot keeps serving), or
    /// `Pending` again when it has no snapshot.
    public func update(id: String, _ request: CacheRequest, account: String) async throws -> ImageCache {
        guard let current = try await repository.get(id: id, account: account) else {
            throw ServiceError.notFound("ImageCacheId \(id) does not exist")
        }
        if let images = request.images { try validate(images: images) }
        if let size = request.size { try validate(size: size) }
        if let r = request.retentionDays { try validate(retentionDays: r) }
        if let m = request.refreshMinutes { try validate(refreshMinutes: m) }
        if let n = request.name {
            try validate(name: n)
            try await checkFree(name: n.isEmpty ? current.id : n, account: account, for: current.id)
        }
        if let size = request.size, size > current.size {
            let usage = try await repository.usage(account: account)
            try AccountQuotas.check(
                "cacheDiskGiB", limit: quotas.cacheDiskGiB, used: usage.sizeGiB, more: size - current.size, unit: " GiB",
                what: "of cache disks")
        }
        // The change is made on the row as it is when written (one transaction): a build that
        // finished meanwhile is neither undone nor rebuilt over.
        var rebuild = false
        let at = clock.now()
        let updated = try await Self.nameTaken {
            try await repository.modify(id: id, account: account, kubernetes: request.kubernetes) { cache in
                rebuild = try Self.change(&cache, with: request, at: at)
            }
        }
        guard let updated else { throw ServiceError.notFound("ImageCacheId \(id) does not exist") }
        if rebuild { builds?.signal() }
        return updated
    }

    /// Applies an update to `cache`; returns whether it is to be (re)built. Refuses a rebuild of
    /// a cache that is still building.
    static func change(_ cache: inout ImageCache, with request: CacheRequest, at: Date) throws -> Bool {
        if let expected = request.expectedRevision, cache.revision != expected {
            throw ServiceError(
                .conflict,
                "the object has been modified (resourceVersion \(expected) is not the current \(cache.revision ?? 0)); read it again and apply the change to the latest version"
            )
        }
        // A cache whose (re)build failed is built again by an update that names its images, size
        // or credentials, even unchanged: that is how a user retries.
        let retry =
            (cache.status == .failed || cache.status == .updateFailed)
            && (request.images != nil || request.size != nil || request.credentials != nil)
        let rebuild =
            retry || (request.images.map { $0 != cache.images } ?? false) || (request.size.map { $0 != cache.size } ?? false)
            || (request.credentials.map { $0 != cache.credentials } ?? false)
        if rebuild && (cache.status == .pending || cache.status == .updating) && request.queueWhileBuilding {
            if let n = request.name { cache.name = n.isEmpty ? cache.id : n }
            if let r = request.retentionDays { cache.retentionDays = r }
            if let m = request.refreshMinutes { cache.refreshMinutes = m == 0 ? nil : m }
            if let i = request.images { cache.images = i }
            if let s = request.size { cache.size = s }
            if let c = request.credentials { cache.credentials = c }
            cache.rebuildQueued = true
            cache.record(
                .updating,
                "Image cache \(cache.id) changed while it builds: \(cache.images.count) image(s) into a \(cache.size) GiB disk are built when this build ends",
                at: at)
            return false
        }
        if rebuild && (cache.status == .pending || cache.status == .updating) {
            throw ServiceError.inUse(
                "image cache \(cache.id) is \(cache.status.rawValue); wait until it is Ready or Failed before changing its images, size or credentials"
            )
        }
        if let n = request.name { cache.name = n.isEmpty ? cache.id : n }
        if let r = request.retentionDays { cache.retentionDays = r }
        if let t = request.tags { cache.tags = t }
        if let s = request.securityGroupIDs { cache.securityGroupIDs = s }
        if let m = request.refreshMinutes { cache.refreshMinutes = m == 0 ? nil : m }
        if rebuild {
            if let i = request.images { cache.images = i }
            if let s = request.size { cache.size = s }
            if let c = request.credentials { cache.credentials = c }
            cache.status = cache.snapshotID == nil ? .pending : .updating
            cache.buildPercent = 0
            cache.record(
                .updating, "Image cache \(cache.id) will be rebuilt: \(cache.images.count) image(s) into a \(cache.size) GiB disk",
                at: at)
        }
        return rebuild
    }

    /// Deletes caches; unknown ids (or another account's) are an error naming them, and then
    /// nothing is deleted.
    public func delete(ids: [String], account: String) async throws {
        guard !ids.isEmpty else { throw ServiceError.missing("ImageCacheIds", "ImageCacheIds must name at least one cache") }
        var found: [ImageCache] = []
        for id in ids {
            guard let cache = try await repository.get(id: id, account: account) else {
                throw ServiceError.notFound("ImageCacheId \(id) does not exist")
            }
            found.append(cache)
        }
        for cache in found {
            try await repository.delete(id: cache.id, account: account)
            if let snapshot = cache.snapshotID {
                snapshots?.delete(id: snapshot)
                await meter.stop(snapshot)
            }
        }
    }

    /// Deletes every cache whose retention has run out, with its snapshot; returns their ids.
    @discardableResult
    public func sweepExpired() async throws -> [String] {
        let at = clock.now()
        var swept: [String] = []
        for cache in try await repository.all(in: CacheStatus.allCases) where cache.isExpired(at: at) {
            try await repository.delete(id: cache.id, account: cache.account)
            if let snapshot = cache.snapshotID {
                snapshots?.delete(id: snapshot)
                await meter.stop(snapshot)
            }
            swept.append(cache.id)
        }
        return swept
    }

    /// Caches of the account, filtered and paged.
    public func describe(account: String, query: CacheQuery) async throws -> (total: Int, caches: [ImageCache]) {
        guard (0...50).contains(query.limit) else {
            throw ServiceError.invalidValue("Limit", "Limit must be from 0 to 50, not \(query.limit)")
        }
        guard query.offset >= 0 else { throw ServiceError.invalidValue("Offset", "Offset must not be negative, not \(query.offset)") }
        return try await repository.list(account: account, query: query)
    }

    /// The best cache for `images` (API.md section 6); records `LastMatchedTime` when `use` is true.
    /// Only caches of the host's platform (where instances run) are matched.
    public func match(images: [String], account: String, region: String, use: Bool = false, minimum: Int? = nil) async throws -> ImageCache?
    {
        try validate(images: images)
        let wanted = Set(images.compactMap { try? ImageReference(parsing: $0).description })
        guard
            var best = try await repository.bestMatch(
                account: account, region: region, images: wanted, now: clock.now(), minimum: minimum, platform: Platform.host.description)
        else { return nil }
        if use {
            let now = clock.now()
            try await repository.modify(id: best.id, account: best.account) { $0.lastMatchedTime = now }
            best.lastMatchedTime = now
        }
        return best
    }

    /// Records that an instance used `cache` (a manual match): its `LastMatchedTime` is now.
    public func markMatched(_ cache: ImageCache) async {
        let now = clock.now()
        _ = try? await repository.modify(id: cache.id, account: cache.account) { $0.lastMatchedTime = now }
    }

    func validate(images: [String]) throws {
        guard !images.isEmpty else { throw ServiceError.invalidValue("Images", "Images must name at least one image") }
        guard images.count <= limits.maximumImages else {
            throw ServiceError.invalidValue("Images", "Images names \(images.count) images, more than \(limits.maximumImages)")
        }
        for (i, image) in images.enumerated() {
            do { _ = try ImageReference(parsing: image) } catch {
                throw ServiceError.invalidValue(FieldPath("Images").index(i), "Images[\(i)]: \(error.message)")
            }
        }
    }

    func validate(size: Int) throws {
        guard (limits.minimumSize...limits.maximumSize).contains(size) else {
            throw ServiceError.invalidValue(
                "ImageCacheSize",
                "ImageCacheSize must be from \(limits.minimumSize) to \(limits.maximumSize) GiB, not \(size)")
        }
    }

    func validate(retentionDays: Int) throws {
        guard (0...limits.maximumRetentionDays).contains(retentionDays) else {
            throw ServiceError.invalidValue(
                "RetentionDays",
                "RetentionDays must be from 0 (kept until deleted) to \(limits.maximumRetentionDays), not \(retentionDays)")
        }
    }

    /// ImageCacheName is unique per account (as the API's other clouds and Kubernetes' names
    /// are): a name another cache of the account has is refused, naming that cache.
    func checkFree(name: String, account: String, for id: String?) async throws {
        guard !name.isEmpty else { return }
        var q = CacheQuery()
        q.names = [name]
        q.limit = 1
        if let other = try await repository.list(account: account, query: q).caches.first, other.id != id {
            throw ServiceError.inUse(
                "ImageCacheName \(name) is already the name of image cache \(other.id); names are unique per account",
                field: "ImageCacheName")
        }
    }

    /// The store's refusal of a duplicate name (two requests that raced) as the API's error.
    static func nameTaken<T>(_ write: () async throws -> T) async throws -> T {
        do { return try await write() } catch let e as StoreError where e.code == .duplicate {
            throw ServiceError.inUse(e.message, field: "ImageCacheName")
        }
    }

    /// A platform images can be pulled for: `linux/<arch>[/<variant>]`, written as the registry
    /// writes it; returns it normalised (`linux/aarch64` is `linux/arm64`).
    func validate(platform text: String) throws -> String {
        guard let p = try? Platform(parsing: text), p.os == "linux", text.contains("/") else {
            throw ServiceError.invalidValue(
                "Platform",
                "Platform must be linux/<architecture> such as linux/amd64 or linux/arm64, not \"\(text.prefix(40))\"")
        }
        return p.description
    }

    func validate(refreshMinutes m: Int) throws {
        guard m == 0 || (limits.minimumRefreshMinutes...525_600).contains(m) else {
            throw ServiceError.invalidValue(
                "RefreshIntervalMinutes",
                "RefreshIntervalMinutes must be 0 (never) or from \(limits.minimumRefreshMinutes) to 525600 (a year), not \(m)")
        }
    }

    func validate(name: String) throws {
        guard name.count <= 60, name.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value != 127 }) else {
            throw ServiceError.invalidValue(
                "ImageCacheName", "ImageCacheName must be at most 60 printable characters, not \"\(name.prefix(80))\"")
        }
    }

    func apply(_ r: CacheRequest, to c: inout ImageCache) {
        if let v = r.credentials { c.credentials = v }
        if let v = r.tags { c.tags = v }
        c.subnetID = r.subnetID ?? c.subnetID
        c.vpcID = r.vpcID ?? c.vpcID
        if let v = r.securityGroupIDs { c.securityGroupIDs = v }
        c.existedEipID = r.existedEipID ?? c.existedEipID
        c.autoCreateEip = r.autoCreateEip ?? c.autoCreateEip
        c.autoCreateEipAttribute = r.autoCreateEipAttribute ?? c.autoCreateEipAttribute
        if let v = r.registrySkipVerifyList { c.registrySkipVerifyList = v }
        if let v = r.registryHttpEndPointList { c.registryHttpEndPointList = v }
        c.resolveConfig = r.resolveConfig ?? c.resolveConfig
        if let m = r.refreshMinutes { c.refreshMinutes = m == 0 ? nil : m }
    }
}

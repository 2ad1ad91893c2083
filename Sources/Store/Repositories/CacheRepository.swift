import Foundation
import IMCCache
import IMCModel

/// Where image caches are kept.
///
/// Contract: every call is atomic; a cache is visible only to its own account (another
/// account's id reads as absent); `update` replaces the whole cache and fails if it is gone.
public protocol CacheRepository: Sendable {
    /// Stores a new cache, with the Kubernetes door's metadata of its object when it has some.
    func insert(_ cache: ImageCache, kubernetes: KubernetesMetadata?) async throws
    /// Replaces the cache (its Kubernetes metadata kept).
    func update(_ cache: ImageCache) async throws
    /// Reads the cache, applies `change` and writes it back in one transaction, so that writers
    /// of different fields (the builder, the API, a match) never undo each other's changes; with
    /// `kubernetes`, the door's metadata is replaced in the same write (nil: kept).
    /// Returns the cache as written; nil when it is gone.
    @discardableResult
    func modify(id: String, account: String, kubernetes: KubernetesMetadata?, _ change: (inout ImageCache) throws -> Void)
        async throws -> ImageCache?
    func get(id: String, account: String) async throws -> ImageCache?
    /// Caches of `account` in creation order, filtered, with the total before paging.
    func list(account: String, query: CacheQuery) async throws -> (total: Int, caches: [ImageCache])
    /// The same, each with its Kubernetes metadata (what the Kubernetes door serves).
    func documents(account: String, query: CacheQuery) async throws -> (total: Int, documents: [CacheDocument])
    /// Removes the cache; false when it was not there.
    @discardableResult
    func delete(id: String, account: String) async throws -> Bool
    /// Serving caches of an account and region (`ImageCache.isServing`): the candidates of a match.
    func serving(account: String, region: String, now: Date) async throws -> [ImageCache]
    /// Caches in any of `statuses`, of every account (for build workers and the sweeper).
    func all(in statuses: [CacheStatus]) async throws -> [ImageCache]
    /// The oldest `perAccount` Pending or Updating caches of each account, oldest first: the
    /// heads of the accounts' build queues, read without reading every queued cache. Caches
    /// whose build another owner holds (an unexpired claim at `now`) are left out.
    func queueHeads(perAccount: Int, owner: String, now: Date) async throws -> [ImageCache]
    /// Takes the build of a Pending or Updating cache for `owner` until `until` (a lease its
    /// builder renews while it builds): false when another owner holds an unexpired claim or
    /// the cache is not queued. Builders in one process or many never build one cache twice.
    func claimBuild(id: String, owner: String, until: Date, now: Date) async throws -> Bool
    /// Extends every build claim of `owner` to `until` (its heartbeat while it builds).
    func renewBuildClaims(owner: String, until: Date) async throws
    /// Gives up `owner`'s claim of one cache, or (nil) every claim of `owner` (a restart).
    func releaseBuildClaims(owner: String, id: String?) async throws
    /// The best serving, unexpired cache of the account and region whose snapshot holds every
    /// one of `images` (normalised references), by the rules of `CacheMatcher`, found with an
    /// index rather than by reading every cache.
    /// `minimum`: how many of the images the cache must hold (nil: all); the one holding the
    /// most wins first.
    /// Only caches of `platform` (`linux/amd64`) take part.
    func bestMatch(account: String, region: String, images: Set<String>, now: Date, minimum: Int?, platform: String) async throws
        -> ImageCache?
    /// How many caches there are in each status, every account (for the operator's gauges).
    func countByStatus() async throws -> [String: Int]
    /// How many caches `account` has and the GiB of their disks together (for its quotas).
    func usage(account: String) async throws -> (count: Int, sizeGiB: Int)
    /// Every change of `account`'s caches after `revision`, in revision order, each with the
    /// cache (and its Kubernetes metadata) as that change left it (a deletion: as it was last)
    /// and the change's revision.
    func changes(account: String, after revision: Int64) async throws -> [CacheChange]
    /// The store's revision now, and the newest revision whose history was forgotten (changes
    /// after an older revision cannot be told any more).
    func revisions() async throws -> (current: Int64, compacted: Int64)
    /// Forgets the history (of caches and instances) but the newest `keeping` changes.
    func compactHistory(keeping: Int) async throws
}

extension CacheRepository {
    public func insert(_ cache: ImageCache) async throws { try await insert(cache, kubernetes: nil) }

    @discardableResult
    public func modify(id: String, account: String, _ change: (inout ImageCache) throws -> Void) async throws -> ImageCache? {
        try await modify(id: id, account: account, kubernetes: nil, change)
    }
}

/// Filters of DescribeImageCaches.
public struct CacheQuery: Sendable {
    public var ids: [String]?
    public var names: [String]?
    public var statuses: [CacheStatus]?
    public var limit = 20
    public var offset = 0
    public init() {}
}

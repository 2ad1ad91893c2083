import IMCInstance
import IMCStore

/// What one account may hold at once, in counts and in GiB, so that no account can take the
/// host's space or the service's capacity from the others. Refusals are `LimitExceeded` and
/// name the quota (its config key) and the figures.
public struct AccountQuotas: Sendable, Equatable {
    /// Image caches.
    public var caches = 10_000
    /// Instances (of every status: a stopped one still holds its disk).
    public var instances = 1000
    /// The disks of all the account's caches together (their `ImageCacheSize`s).
    public var cacheDiskGiB = 20_480
    /// The disks of the account's running instances together.
    public var instanceDiskGiB = 20_480
    /// Disks kept after their instance ended (`retainMinutes`), together.
    public var retainedDiskGiB = 4096
    /// The account's store of images pulled for instances that no cache served: one disk of
    /// this size, while any instance of the account uses it.
    public var nodeStoreGiB = 50
    /// Caches created automatically for instances that matched nothing; past it, the least
    /// recently used of them goes.
    public var autoCreatedCaches = 10

    public init() {}

    /// Every quota by its config key, for the config file and the messages.
    public static var keys: [(String, WritableKeyPath<AccountQuotas, Int>)] {
        [
            ("caches", \.caches), ("instances", \.instances), ("cacheDiskGiB", \.cacheDiskGiB),
            ("instanceDiskGiB", \.instanceDiskGiB), ("retainedDiskGiB", \.retainedDiskGiB), ("nodeStoreGiB", \.nodeStoreGiB),
            ("autoCreatedCaches", \.autoCreatedCaches),
        ]
    }

    /// Refuses `more` of what `key` counts when the account's `used` plus it passes `limit`.
    package static func check(_ key: String, limit: Int, used: Int, more: Int, unit: String, what: String) throws(ServiceError) {
        guard used + more > limit else { return }
        throw ServiceError.limitExceeded(
            "quota \(key) is \(limit)\(unit): the account has \(used)\(unit) \(what), and \(more)\(unit) more would pass it")
    }
}

import Foundation
import IMCCache

/// The reasons of an instance's events, declared once: the kubelet's names for what happens to
/// containers, and imc's for what happens to the image cache and the disk. Each reason has one
/// type (Normal or Warning).
public enum InstanceEventReason: String, Sendable, CaseIterable {
    case scheduled = "Scheduled"
    case pulling = "Pulling"
    case pulled = "Pulled"
    case created = "Created"
    case started = "Started"
    case failed = "Failed"
    case backOff = "BackOff"
    case killing = "Killing"
    /// The kubelet's eviction: a volume past its limit.
    case evicted = "Evicted"
    /// A probe failed.
    case unhealthy = "Unhealthy"
    /// `UpdateEKSContainerInstance` changed its spec.
    case updated = "Updated"
    case imageCacheUsed = "ImageCacheUsed"
    case imageCacheNotMatched = "ImageCacheNotMatched"
    case imageCacheMismatch = "ImageCacheMismatch"
    /// A partial match (asked for): the cache lacks some images, which are pulled onto its disk.
    case imageCachePartiallyMatched = "ImageCachePartiallyMatched"
    /// Nothing matched, and a cache is being built for the images (auto-create).
    case imageCacheAutoCreated = "ImageCacheAutoCreated"
    /// No cache holds the images, but one holds some of their layers, which are used from it.
    case imageCacheLayersMatched = "ImageCacheLayersMatched"
    case imageCacheNotFound = "ImageCacheNotFound"
    case imageCacheStale = "ImageCacheStale"
    case imageCacheDiskReused = "ImageCacheDiskReused"
    case imageCacheDiskRetained = "ImageCacheDiskRetained"
    case nodeShutdown = "NodeShutdown"
    case nodeRestarted = "NodeRestarted"
    /// The node running the instance missed its heartbeats: declared lost and fenced.
    case nodeLost = "NodeLost"
    /// Started again on another node (its node was lost), from its cache.
    case rescheduled = "Rescheduled"
    /// The account's default annotations filled what the request left unsaid.
    case defaultAnnotationsApplied = "DefaultAnnotationsApplied"
    /// The instance's port dropped frames it sent as another address (source IPv4, MAC, ARP).
    case spoofedTrafficDropped = "SpoofedTrafficDropped"
    /// The instance's port dropped new connections past its cap of tracked connections.
    case connectionLimitReached = "ConnectionLimitReached"
    /// An NFS volume mounted (the kubelet says nothing; imc says through which client).
    case mounted = "Mounted"
    /// A volume could not be mounted (the kubelet's reason).
    case failedMount = "FailedMount"

    /// Warning for what a person should look at; Normal otherwise.
    public var kind: CacheEvent.Kind {
        switch self {
        case .failedMount, .failed, .backOff, .evicted, .unhealthy, .imageCacheMismatch, .imageCacheNotFound, .imageCacheStale,
            .nodeShutdown,
            .nodeRestarted,
            .nodeLost,
            .rescheduled, .spoofedTrafficDropped, .connectionLimitReached:
            .warning
        default: .normal
        }
    }
}

/// The names of the moments of an instance's start-up (milliseconds from creation), declared
/// once: the API, the CLI and the console show them.
public enum StartupPhase {
    public static let created = "Created"
    public static let matched = "Matched"
    public static let diskReady = "DiskReady"
    public static let diskMounted = "DiskMounted"
    public static let networkReady = "NetworkReady"
    /// The instance's id range, user namespace and cgroup are made.
    public static let isolated = "Isolated"
    /// Its images' layers are shown to it idmapped.
    public static let layersMapped = "LayersMapped"
    public static func imageReady(_ image: String) -> String { "ImageReady:\(image)" }
    public static func containerCreated(_ name: String) -> String { "Created:\(name)" }
    public static func containerStarted(_ name: String) -> String { "Started:\(name)" }
    /// Whether `phase` is a container's start.
    public static func isContainerStart(_ phase: String) -> Bool { phase.hasPrefix("Started:") }
}

extension Instance {
    /// Records an event of `reason` (its type is the reason's).
    public mutating func record(_ reason: InstanceEventReason, _ message: String, at time: Date) {
        record(reason.kind, reason.rawValue, message, at: time)
    }
}

import Foundation

/// The reasons of a cache's events, declared once, each with its type (Normal or Warning): what
/// the build did step by step, and why it failed.
public enum CacheEventReason: String, Sendable, CaseIterable {
    case creating = "Creating"
    case updating = "Updating"
    case builderStarted = "BuilderStarted"
    case diskCreated = "DiskCreated"
    case pulling = "Pulling"
    case pulled = "Pulled"
    case snapshotCreating = "SnapshotCreating"
    case snapshotCreated = "SnapshotCreated"
    case ready = "Ready"
    case imageNotFound = "ImageNotFound"
    case registryUnauthorized = "RegistryUnauthorized"
    case registryUnreachable = "RegistryUnreachable"
    case pullFailed = "PullFailed"
    case diskFailed = "DiskFailed"
    case diskTooSmall = "DiskTooSmall"
    case buildFailed = "BuildFailed"
    case snapshotCorrupt = "SnapshotCorrupt"
    case credentialsUnreadable = "CredentialsUnreadable"
    /// A registry address was refused by the address rules (loopback, private, ...).
    case registryRefused = "RegistryRefused"
    /// A registry sent too little for too long.
    case registryStalled = "RegistryStalled"
    /// The build ran past its deadline and was stopped.
    case buildDeadlineExceeded = "BuildDeadlineExceeded"
    /// A refresh check could not ask a registry what a tag is now.
    case refreshCheckFailed = "RefreshCheckFailed"

    public var kind: CacheEvent.Kind {
        switch self {
        case .imageNotFound, .registryUnauthorized, .registryUnreachable, .pullFailed, .diskFailed, .diskTooSmall, .buildFailed,
            .snapshotCorrupt, .credentialsUnreadable, .registryRefused, .registryStalled, .buildDeadlineExceeded, .refreshCheckFailed:
            .warning
        default: .normal
        }
    }

    /// The steps of a build, in the order a build records them.
    public static let buildSteps: Set<String> = Set(
        [builderStarted, diskCreated, pulling, pulled, snapshotCreating, snapshotCreated, ready].map(\.rawValue))
}

/// How far a build has come, from its events: the builder, the disk, each image pulling and
/// pulled, the snapshot being made and made, Ready. The console reads it from the model, the CLI
/// from the API's events; both compute it here.
public struct BuildProgress: Sendable, Equatable {
    public var done: Int
    public var total: Int
    /// The last step's message.
    public var step: String?
    /// The build's own measure, 0-100, from the bytes pulled (nil: the steps measure it).
    public var percent: Int?

    /// From the events' reasons and messages, in order, for a cache of `images` images, and
    /// the build's `percent` when it reported one.
    public init(events: [(reason: String, message: String)], images: Int, ready: Bool, percent: Int? = nil) {
        self.percent = ready ? 100 : percent
        // This build's events: those after the last Creating or Updating.
        let start =
            events.lastIndex { $0.reason == CacheEventReason.creating.rawValue || $0.reason == CacheEventReason.updating.rawValue }.map {
                $0 + 1
            } ?? 0
        let build = events[start...].filter { CacheEventReason.buildSteps.contains($0.reason) }
        total = 5 + 2 * max(1, images)
        done = ready ? total : min(build.count, total)
        step = build.last?.message
    }

    public var fraction: Double {
        if let percent { return Double(percent) / 100 }
        return total > 0 ? Double(done) / Double(total) : 0
    }
}

extension ImageCache {
    /// Records an event of `reason` (its type is the reason's).
    public mutating func record(_ reason: CacheEventReason, _ message: String, at time: Date) {
        record(reason.kind, reason.rawValue, message, at: time)
    }

    /// How far the current (or last) build has come.
    public var buildProgress: BuildProgress {
        BuildProgress(
            events: events.map { ($0.reason, $0.message) }, images: images.count, ready: status == .ready,
            percent: buildPercent.map { _ in progressPercent })
    }
}

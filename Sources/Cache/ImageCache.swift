import Foundation
import IMCModel

/// The life cycle of an image cache (API.md section 2). A cache serves (matches, and its
/// snapshot becomes instances' disks) while it is Ready, and also while it is Updating or after
/// UpdateFailed: an update keeps the previous snapshot until the new one replaces it.
public enum CacheStatus: String, Codable, Sendable, CaseIterable {
    case pending = "Pending"
    case ready = "Ready"
    case failed = "Failed"
    case updating = "Updating"
    case updateFailed = "UpdateFailed"

    /// The statuses in which a cache with a snapshot serves instances.
    public static let serving: [CacheStatus] = [.ready, .updating, .updateFailed]
}

/// A registry credential as a cache keeps it. The password is never returned by the API, never
/// printed (its description redacts it) and sealed at rest by the store.
public struct CacheCredential: Codable, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "CacheCredential(server: \(server), username: \(username), password: <redacted>)" }
    public var debugDescription: String { description }
    public var server: String
    public var username: String
    public var password: String
    public var name: String?
    /// The sealed password as stored, when it could not be opened (the key changed, or the row
    /// was tampered with): `password` is empty then, and the sealed value is written back as it
    /// was, so that nothing is lost; whoever needs the password fails with a clear error.
    public var unopenedPassword: String? = nil

    enum CodingKeys: String, CodingKey {
        case server, username, password, name
    }

    /// Why a credential cannot be used, when its password could not be opened.
    public static func unreadable(_ credentials: [CacheCredential]) -> String? {
        credentials.first { $0.unopenedPassword != nil }.map {
            "the stored password for registry \($0.server) cannot be opened with the service's key (did IMC_MASTER_KEY or master.key change?); give the credentials again"
        }
    }

    public init(server: String, username: String, password: String, name: String? = nil) {
        self.server = server
        self.username = username
        self.password = password
        self.name = name
    }
}

/// A tag on a cache.
public struct CacheTag: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// One image cache: what was asked for, where it stands, and what it holds.
public struct ImageCache: Codable, Sendable, Equatable {
    /// `imc-` + 8 lower-case alphanumerics.
    public var id: String
    /// The account (tenant) that owns it; another account never sees it.
    public var account: String
    public var region: String
    public var name: String
    /// GiB.
    public var size: Int
    /// The references as the user gave them, in order.
    public var images: [String]
    public var creationTime: Date
    /// 0: kept until deleted.
    public var retentionDays: Int
    public var lastMatchedTime: Date?
    public var snapshotID: String?
    /// What the snapshot holds, which is what was asked for when it was built: while an update
    /// rebuilds the cache, `images` and `size` are the new ones and these the served ones. Nil in
    /// records older than the field (then `images` and `size` were the snapshot's).
    public var snapshotImages: [String]?
    public var snapshotSize: Int?
    /// The digest each image's reference resolved to when the snapshot was built (normalised
    /// reference -> digest): what a moved tag is told by.
    public var snapshotDigests: [String: String]?
    /// The layers the snapshot holds (compressed digest -> size): an instance whose images are in
    /// no cache takes the layers they share with one from its disk and pulls only the rest.
    public var snapshotLayers: [String: Int64]?
    /// Check the tags this often (minutes; nil or 0: never) and rebuild when one moved.
    public var refreshMinutes: Int?
    /// When the tags were last checked.
    public var lastRefreshCheck: Date?
    /// How far the current (or last) build came, 0-100, from the bytes pulled against the
    /// images' compressed sizes; nil before a build reports any.
    public var buildPercent: Int?
    /// The snapshot's data checksum, verified before a disk is made from it.
    public var snapshotChecksum: String?
    public var status: CacheStatus
    public var events: [CacheEvent]
    public var credentials: [CacheCredential]
    public var tags: [CacheTag]
    public var subnetID: String?
    public var vpcID: String?
    public var securityGroupIDs: [String]
    public var existedEipID: String?
    public var autoCreateEip: Bool?
    public var autoCreateEipAttribute: String?
    public var registrySkipVerifyList: [String]
    public var registryHttpEndPointList: [String]
    public var resolveConfig: String?
    /// The OS and CPU architecture the cache's images are pulled for (`linux/arm64`), pinned at
    /// creation; nil in records from before the field, which were the host's.
    public var platform: String?
    /// A change of images, size or credentials was made while the cache was building (a
    /// declarative client's): it is built as soon as the current build ends.
    public var rebuildQueued: Bool?
    /// The store's revision of the cache's last change (its Kubernetes `resourceVersion`), as
    /// read; nil before it was stored.
    public var revision: Int64?

    public init(
        id: String, account: String, region: String, name: String, size: Int, images: [String], creationTime: Date, retentionDays: Int
    ) {
        self.id = id
        self.account = account
        self.region = region
        self.name = name
        self.size = size
        self.images = images
        self.creationTime = creationTime
        self.retentionDays = retentionDays
        status = .pending
        events = []
        credentials = []
        tags = []
        securityGroupIDs = []
        registrySkipVerifyList = []
        registryHttpEndPointList = []
    }

    /// `creationTime + retentionDays`, or nil when kept until deleted.
    public var expireDateTime: Date? {
        retentionDays > 0 ? creationTime.addingTimeInterval(Double(retentionDays) * 86400) : nil
    }

    /// Whether the cache has expired at `now`.
    public func isExpired(at now: Date) -> Bool { expireDateTime.map { $0 <= now } ?? false }

    /// The images, normalised as Docker does (`nginx` is `docker.io/library/nginx:latest`).
    public var normalizedImages: [String] { images.compactMap { try? ImageReference(parsing: $0).description } }

    /// The platform the cache holds images for (the host's when not given).
    public var platformName: String { platform ?? Platform.host.description }

    /// The images the snapshot holds (what matching looks at).
    public var servedImages: [String] { snapshotImages ?? images }
    /// `servedImages`, normalised.
    public var normalizedServedImages: [String] { servedImages.compactMap { try? ImageReference(parsing: $0).description } }
    /// The snapshot's size in GiB (an instance's disk made from it is at least this large).
    public var servedSize: Int { snapshotSize ?? size }

    /// Whether the cache's snapshot serves instances at `now`: it has one, its status is one of
    /// `CacheStatus.serving`, and it has not expired.
    public func isServing(at now: Date) -> Bool {
        snapshotID != nil && CacheStatus.serving.contains(status) && !isExpired(at: now)
    }

    /// `Progress` as the API shows it: 100 once Ready, else how far the build has come.
    public var progressPercent: Int { status == .ready ? 100 : min(100, max(0, buildPercent ?? 0)) }

    /// Records a newly built snapshot as the one the cache serves.
    public mutating func serve(snapshot id: String, checksum: String?, digests: [String: String]? = nil) {
        snapshotID = id
        snapshotChecksum = checksum
        snapshotImages = images
        snapshotSize = size
        snapshotDigests = digests
        snapshotLayers = nil
    }

    /// How an instance's event names the snapshot it used: its id, and when the cache is being
    /// rebuilt (or its rebuild failed), that the previous snapshot served.
    public var servedSnapshotNote: String {
        guard let id = snapshotID else { return "" }
        switch status {
        case .updating: return "snapshot \(id), the previous one, serving while the update builds"
        case .updateFailed: return "snapshot \(id), the previous one, serving after the update failed"
        default: return "snapshot \(id)"
        }
    }

    /// Adds an event, folding it into the last one when it repeats (same type, reason and
    /// message: its count and last timestamp grow) and keeping the most recent `limit`.
    public mutating func record(_ type: CacheEvent.Kind, _ reason: String, _ message: String, at time: Date, limit: Int = 100) {
        events.record(type, reason, message, at: time, limit: limit)
    }
}

extension Array where Element == CacheEvent {
    /// Appends an event, folding a repeat of the last one (same type, reason and message) into
    /// it, and keeps the most recent `limit`.
    public mutating func record(_ type: CacheEvent.Kind, _ reason: String, _ message: String, at time: Date, limit: Int = 100) {
        if var last = self.last, last.type == type, last.reason == reason, last.message == message {
            last.count += 1
            last.lastTimestamp = time
            self[count - 1] = last
        } else {
            append(CacheEvent(type: type, reason: reason, message: message, firstTimestamp: time, lastTimestamp: time))
        }
        if count > limit { removeFirst(count - limit) }
    }
}

/// An event a person can follow a build by.
public struct CacheEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }
    public var type: Kind
    public var reason: String
    public var message: String
    public var firstTimestamp: Date
    public var lastTimestamp: Date
    public var count: Int = 1
}

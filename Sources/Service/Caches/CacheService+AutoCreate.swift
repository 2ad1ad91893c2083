import Foundation
import IMCCache
import IMCModel
import IMCStore

/// Caches made for instances that matched nothing (auto-create, opted into per Pod or per
/// account): one per distinct set of images, named after it, built in the background for the
/// next instance; past the account's quota of them, the least recently used goes.
extension CacheService {
    /// Marks a cache imc created by itself.
    public static let autoCreatedTag = CacheTag(key: "imc.auto-created", value: "true")

    /// What `autoCreate` did.
    public struct AutoCreated: Sendable {
        public var cache: ImageCache
        /// False: a cache for these images already existed (building, ready, or failed).
        public var created: Bool
        public var evicted: [ImageCache]
    }

    /// The name of the auto-created cache of `images` on `platform`: the same images (in any
    /// order, however written) give the same name.
    public static func autoCreatedName(images: [String], platform: String) -> String {
        let key =
            Set(images.map { (try? ImageReference(parsing: $0).description) ?? $0 }).sorted().joined(separator: "\n") + "\n" + platform
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64 bits
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "auto-" + String(hash, radix: 16).leftPadded(to: 16)
    }

    /// Builds a cache of `images` unless the account already has the auto-created cache of
    /// these images; evicts the least recently used auto-created caches beyond the quota first.
    public func autoCreate(
        images: [String], account: String, region: String, credentials: [CacheCredential], plainHTTP: [String], skipVerify: [String]
    ) async throws -> AutoCreated {
        let name = Self.autoCreatedName(images: images, platform: Platform.host.description)
        var byName = CacheQuery()
        byName.names = [name]
        byName.limit = 1
        if let existing = try await repository.list(account: account, query: byName).caches.first {
            return AutoCreated(cache: existing, created: false, evicted: [])
        }
        var evicted: [ImageCache] = []
        let mine = try await autoCreatedCaches(account: account)
        let over = mine.count + 1 - quotas.autoCreatedCaches
        if over > 0 {
            let leastRecent = mine.sorted { ($0.lastMatchedTime ?? $0.creationTime) < ($1.lastMatchedTime ?? $1.creationTime) }
            evicted = Array(leastRecent.prefix(over))
            if !evicted.isEmpty { try await delete(ids: evicted.map(\.id), account: account) }
        }
        var request = CacheRequest()
        request.images = images
        request.name = name
        request.credentials = credentials
        request.registryHttpEndPointList = plainHTTP
        request.registrySkipVerifyList = skipVerify
        request.tags = [Self.autoCreatedTag]
        let created = try await create(request, account: account, region: region)
        let at = clock.now()
        let stored = try await repository.modify(id: created.id, account: account) { c in
            c.record(
                .normal, "AutoCreated",
                "Image cache \(c.id) was created for an instance that no cache matched; the next instance with these images uses it",
                at: at)
            for old in evicted {
                c.record(
                    .normal, "AutoCreatedCacheEvicted",
                    "Auto-created image cache \(old.id) (\(old.images.joined(separator: ", "))), the least recently used, was deleted to stay within the quota autoCreatedCaches (\(quotas.autoCreatedCaches))",
                    at: at)
            }
        }
        return AutoCreated(cache: stored ?? created, created: true, evicted: evicted)
    }

    /// The account's auto-created caches (named `auto-...` and tagged so).
    func autoCreatedCaches(account: String) async throws -> [ImageCache] {
        var out: [ImageCache] = []
        var page = CacheQuery()
        page.limit = 500
        while true {
            let (total, caches) = try await repository.list(account: account, query: page)
            out += caches.filter { $0.name.hasPrefix("auto-") && $0.tags.contains(Self.autoCreatedTag) }
            page.offset += caches.count
            if caches.isEmpty || page.offset >= total { return out }
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

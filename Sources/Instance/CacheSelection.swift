import Foundation
import IMCCache
import IMCModel

/// Which image cache an instance uses, decided from what it asked for and what the lookups
/// found (API.md section 6 and 7): the outcome, the cache whose snapshot becomes the disk, the
/// images that cache lacks (pulled onto its disk), and the events that say so.
public struct CacheSelection: Equatable, Sendable {
    public var outcome: CacheOutcome
    /// The cache whose snapshot becomes the instance's disk (nil: a scratch disk, images pulled).
    public var cache: ImageCache?
    /// Images of a manually named cache that it does not hold.
    public var missing: [String]
    /// The events to record, in order.
    public var events: [(InstanceEventReason, String)]
    /// How many of the instance's distinct images the cache holds, and of how many.
    public var matched = 0
    public var wanted = 0

    init(outcome: CacheOutcome, cache: ImageCache?, missing: [String], events: [(InstanceEventReason, String)]) {
        self.outcome = outcome
        self.cache = cache
        self.missing = missing
        self.events = events
    }

    /// `matched N of M images`, for the instance's ImageCacheUsed event.
    public var degree: String { "matched \(matched) of \(wanted) image\(wanted == 1 ? "" : "s")" }

    public static func == (a: CacheSelection, b: CacheSelection) -> Bool {
        a.outcome == b.outcome && a.cache == b.cache && a.missing == b.missing
            && a.events.map { "\($0.0.rawValue) \($0.1)" } == b.events.map { "\($0.0.rawValue) \($0.1)" }
    }

    /// What the lookups found for the instance's request.
    public enum Lookup: Sendable {
        /// No cache asked for.
        case off
        /// `auto`: the best match, if any, and how many images it had to hold (`minimum` below
        /// the number of images: a partial match was asked for).
        case auto(ImageCache?, minimum: Int? = nil)
        /// A cache named by id, as read (nil: no such cache of this account).
        case manual(id: String, ImageCache?)
    }

    /// Decides, for an instance running `images`.
    public static func select(
        _ lookup: Lookup, images: [String], now: Date, platform: String = Platform.host.description
    ) -> CacheSelection {
        switch lookup {
        case .off:
            return CacheSelection(outcome: .off, cache: nil, missing: [], events: [])
        case .auto(let cache?, _):
            var s = CacheSelection(outcome: .used, cache: cache, missing: [], events: [])
            s.measure(images, against: cache)
            if !s.missing.isEmpty {
                s.events = [
                    (
                        .imageCachePartiallyMatched,
                        "Image cache \(cache.id) \(s.degree); \(s.missing.joined(separator: ", ")) will be pulled onto its disk"
                    )
                ]
            }
            return s
        case .auto(nil, let minimum):
            let distinct = Set(images).count
            let wanted =
                minimum.map {
                    $0 < distinct ? "at least \($0) of \(images.joined(separator: ", "))" : "all of \(images.joined(separator: ", "))"
                }
                ?? "all of \(images.joined(separator: ", "))"
            return CacheSelection(
                outcome: .notMatched, cache: nil, missing: [],
                events: [(.imageCacheNotMatched, "No image cache holds \(wanted); the images will be pulled")])
        case .manual(let id, let cache):
            guard let cache, cache.isServing(at: now) else {
                let state = cache.map { $0.isExpired(at: now) ? "expired" : $0.status.rawValue } ?? "not found"
                return CacheSelection(
                    outcome: .notFound, cache: nil, missing: [],
                    events: [(.imageCacheNotFound, "Image cache \(id) is \(state) and cannot be used; the images will be pulled normally")])
            }
            guard cache.platformName == platform else {
                return CacheSelection(
                    outcome: .notFound, cache: nil, missing: [],
                    events: [
                        (
                            .imageCacheNotFound,
                            "Image cache \(id) holds images for \(cache.platformName), and this instance runs on \(platform); the images will be pulled normally"
                        )
                    ])
            }
            var s = CacheSelection(outcome: .used, cache: cache, missing: [], events: [])
            s.measure(images, against: cache)
            s.outcome = s.missing.isEmpty ? .used : .mismatch
            s.events = s.missing.map {
                (.imageCacheMismatch, "Image \($0) is not in image cache \(id); it will be pulled onto the cache's disk")
            }
            return s
        }
    }

    /// Which of `images` the cache's snapshot lacks, and how many it holds.
    mutating func measure(_ images: [String], against cache: ImageCache) {
        let held = Set(cache.normalizedServedImages)
        func normal(_ image: String) -> String { (try? ImageReference(parsing: image).description) ?? image }
        var seen = Set<String>()
        missing = images.filter { !held.contains(normal($0)) && seen.insert(normal($0)).inserted }
        let distinct = Set(images.map(normal))
        wanted = distinct.count
        matched = distinct.intersection(held).count
    }

    /// No cache holds the images, but `cache` holds some of their layers (a shared base image):
    /// its snapshot becomes the disk, those layers are used from it and only the rest pulled.
    public static func sharingLayers(
        _ cache: ImageCache, images: [String], layers: Int, of total: Int, bytes: Int64, ofBytes totalBytes: Int64
    ) -> CacheSelection {
        var s = CacheSelection(outcome: .used, cache: cache, missing: [], events: [])
        s.measure(images, against: cache)
        s.events = [
            (
                .imageCacheLayersMatched,
                "No image cache holds \(s.missing.joined(separator: ", ")); image cache \(cache.id) holds \(layers) of \(total) of their layers (\(bytes) of \(totalBytes) bytes): those are used from its disk and only the rest is pulled"
            )
        ]
        return s
    }

    /// The cache was chosen but its snapshot cannot become a disk: the images are pulled.
    public static func unusable(_ cacheID: String, why: String) -> CacheSelection {
        CacheSelection(
            outcome: .notFound, cache: nil, missing: [],
            events: [(.imageCacheNotFound, "Image cache \(cacheID) cannot be used (\(why)); the images will be pulled normally")])
    }
}

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

    public static func == (a: CacheSelection, b: CacheSelection) -> Bool {
        a.outcome == b.outcome && a.cache == b.cache && a.missing == b.missing
            && a.events.map { "\($0.0.rawValue) \($0.1)" } == b.events.map { "\($0.0.rawValue) \($0.1)" }
    }

    /// What the lookups found for the instance's request.
    public enum Lookup: Sendable {
        /// No cache asked for.
        case off
        /// `auto`: the best match, if any.
        case auto(ImageCache?)
        /// A cache named by id, as read (nil: no such cache of this account).
        case manual(id: String, ImageCache?)
    }

    /// Decides, for an instance running `images`.
    public static func select(_ lookup: Lookup, images: [String], now: Date) -> CacheSelection {
        switch lookup {
        case .off:
            return CacheSelection(outcome: .off, cache: nil, missing: [], events: [])
        case .auto(let cache?):
            return CacheSelection(outcome: .used, cache: cache, missing: [], events: [])
        case .auto(nil):
            return CacheSelection(
                outcome: .notMatched, cache: nil, missing: [],
                events: [
                    (
                        .imageCacheNotMatched,
                        "No image cache holds all of \(images.joined(separator: ", ")); the images will be pulled"
                    )
                ])
        case .manual(let id, let cache):
            guard let cache, cache.isServing(at: now) else {
                let state = cache.map { $0.isExpired(at: now) ? "expired" : $0.status.rawValue } ?? "not found"
                return CacheSelection(
                    outcome: .notFound, cache: nil, missing: [],
                    events: [(.imageCacheNotFound, "Image cache \(id) is \(state) and cannot be used; the images will be pulled normally")])
            }
            let held = Set(cache.normalizedServedImages)
            let missing = images.filter { !held.contains((try? ImageReference(parsing: $0).description) ?? $0) }
            return CacheSelection(
                outcome: missing.isEmpty ? .used : .mismatch, cache: cache, missing: missing,
                events: missing.map {
                    (.imageCacheMismatch, "Image \($0) is not in image cache \(id); it will be pulled onto the cache's disk")
                })
        }
    }

    /// The cache was chosen but its snapshot cannot become a disk: the images are pulled.
    public static func unusable(_ cacheID: String, why: String) -> CacheSelection {
        CacheSelection(
            outcome: .notFound, cache: nil, missing: [],
            events: [(.imageCacheNotFound, "Image cache \(cacheID) cannot be used (\(why)); the images will be pulled normally")])
    }
}

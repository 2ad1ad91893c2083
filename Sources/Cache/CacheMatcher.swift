import Foundation
import IMCModel

/// Which cache an instance should use (API.md section 6), as a pure function: a cache matches
/// when every image the instance runs is in it after normalisation; among matches, the smaller
/// `ImageCacheSize` wins, then the later `CreationTime` (then the id, so the choice is stable).
/// Only serving caches (Ready, or Updating/UpdateFailed with their previous snapshot), unexpired,
/// of the same account and region take part, by the images their snapshot holds.
public enum CacheMatcher {
    public static func best(for images: [String], among caches: [ImageCache], account: String, region: String, now: Date) -> ImageCache? {
        let parsed = images.compactMap { try? ImageReference(parsing: $0).description }
        guard !parsed.isEmpty, parsed.count == images.count else { return nil }
        let wanted = Set(parsed)
        return caches.filter { c in
            c.account == account && c.region == region && c.isServing(at: now)
                && wanted.isSubset(of: Set(c.normalizedServedImages))
        }
        .min { a, b in
            if a.size != b.size { return a.size < b.size }
            if a.creationTime != b.creationTime { return a.creationTime > b.creationTime }
            return a.id < b.id
        }
    }
}

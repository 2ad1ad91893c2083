import Foundation
import IMCModel

/// Which cache an instance should use (API.md section 6), as a pure function: a cache matches
/// when every image the instance runs is in it after normalisation; among matches, the smaller
/// `ImageCacheSize` wins, then the later `CreationTime` (then the id, so the choice is stable).
/// Only serving caches (Ready, or Updating/UpdateFailed with their previous snapshot), unexpired,
/// of the same account, region and platform take part, by the images their snapshot holds.
///
/// With `minimum` below the number of images (a partial match, asked for per instance), a cache
/// holding at least `minimum` of them matches, and the one holding the most wins before size
/// and time are looked at.
public enum CacheMatcher {
    public static func best(
        for images: [String], among caches: [ImageCache], account: String, region: String, now: Date, minimum: Int? = nil,
        platform: String = Platform.host.description
    ) -> ImageCache? {
        let parsed = images.compactMap { try? ImageReference(parsing: $0).description }
        guard !parsed.isEmpty, parsed.count == images.count else { return nil }
        let wanted = Set(parsed)
        let needed = min(wanted.count, max(1, minimum ?? wanted.count))
        func held(_ c: ImageCache) -> Int { wanted.intersection(c.normalizedServedImages).count }
        return caches.filter { c in
            c.account == account && c.region == region && c.platformName == platform && c.isServing(at: now) && held(c) >= needed
        }
        .min { a, b in
            let (ha, hb) = (held(a), held(b))
            if ha != hb { return ha > hb }
            if a.size != b.size { return a.size < b.size }
            if a.creationTime != b.creationTime { return a.creationTime > b.creationTime }
            return a.id < b.id
        }
    }
}

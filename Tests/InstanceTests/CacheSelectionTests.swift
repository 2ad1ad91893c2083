import Foundation
import IMCCache
import IMCInstance
import Testing

/// Which cache an instance uses, decided from the lookups (API.md sections 6 and 7).
struct CacheSelectionTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static func cache(_ status: CacheStatus = .ready, images: [String] = ["nginx"], retentionDays: Int = 0, created: Date = now)
        -> ImageCache
    {
        var c = ImageCache(
            id: "imc-00000001", account: "1", region: "r", name: "c", size: 20, images: images, creationTime: created,
            retentionDays: retentionDays)
        c.status = status
        c.snapshotID = "snap-00000001"
        return c
    }

    @Test func offUsesNoCacheAndSaysNothing() {
        let s = CacheSelection.select(.off, images: ["nginx"], now: Self.now)
        #expect(s.outcome == .off && s.cache == nil && s.events.isEmpty)
    }

    @Test func autoUsesTheMatchOrSaysWhichImagesArePulled() {
        let used = CacheSelection.select(.auto(Self.cache()), images: ["nginx"], now: Self.now)
        #expect(used.outcome == .used && used.cache?.id == "imc-00000001" && used.events.isEmpty)
        let none = CacheSelection.select(.auto(nil), images: ["nginx", "redis"], now: Self.now)
        #expect(none.outcome == .notMatched && none.cache == nil)
        #expect(none.events.map(\.0) == [.imageCacheNotMatched] && none.events[0].1.contains("nginx, redis"))
    }

    static let manual: [(String, ImageCache?, CacheOutcome, String)] = [
        ("ready, every image", cache(), .used, ""),
        ("ready, one missing", cache(), .mismatch, "Image redis is not in image cache imc-00000001"),
        ("pending", cache(.pending), .notFound, "is Pending and cannot be used"),
        ("failed", cache(.failed), .notFound, "is Failed"),
        ("expired", cache(retentionDays: 1, created: now.addingTimeInterval(-2 * 86400)), .notFound, "is expired"),
        ("unknown", nil, .notFound, "is not found"),
    ]

    @Test(arguments: manual)
    func aNamedCacheIsUsedEvenWhenItLacksAnImageButNotWhenItCannotServe(
        _ label: String, cache: ImageCache?, outcome: CacheOutcome, message: String
    ) {
        let images = label == "ready, one missing" ? ["nginx", "redis"] : ["docker.io/library/nginx:latest"]
        let s = CacheSelection.select(.manual(id: "imc-00000001", cache), images: images, now: Self.now)
        #expect(s.outcome == outcome)
        #expect((s.cache != nil) == (outcome == .used || outcome == .mismatch), "the disk is the cache's when it can serve")
        if message.isEmpty { #expect(s.events.isEmpty) } else { #expect(s.events.contains { $0.1.contains(message) }) }
        if outcome == .mismatch { #expect(s.missing == ["redis"] && s.events[0].0.kind == .warning) }
    }

    @Test func aCacheWhoseSnapshotCannotBeUsedIsAWarningAndAPull() {
        let s = CacheSelection.unusable("imc-00000001", why: "snapshot snap-1 does not match its checksum")
        #expect(s.outcome == .notFound && s.cache == nil)
        #expect(s.events.map(\.0) == [.imageCacheNotFound] && s.events[0].1.contains("pulled normally"))
    }
}

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
        c.serve(snapshot: "snap-00000001", checksum: nil)
        c.status = status
        return c
    }

    /// A cache whose update to `images + ["redis"]` is being built (or failed).
    static func updated(_ status: CacheStatus) -> ImageCache {
        var c = cache(status)
        c.images.append("redis")
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
        #expect(used.degree == "matched 1 of 1 image")
    }

    @Test func aPartialMatchSaysWhatItHoldsAndWhatIsPulled() {
        let images = ["nginx", "redis", "docker.io/library/nginx:latest", "mysql:8"]
        let s = CacheSelection.select(.auto(Self.cache(), minimum: 1), images: images, now: Self.now)
        #expect(s.outcome == .used && s.missing == ["redis", "mysql:8"] && s.degree == "matched 1 of 3 images")
        #expect(s.events.map(\.0) == [.imageCachePartiallyMatched] && s.events[0].0.kind == .normal)
        #expect(s.events[0].1 == "Image cache imc-00000001 matched 1 of 3 images; redis, mysql:8 will be pulled onto its disk")
        let none = CacheSelection.select(.auto(nil, minimum: 2), images: images, now: Self.now)
        #expect(none.events[0].1.hasPrefix("No image cache holds at least 2 of nginx"))
    }

    static let manual: [(String, ImageCache?, CacheOutcome, String)] = [
        ("ready, every image", cache(), .used, ""),
        ("ready, one missing", cache(), .mismatch, "Image redis is not in image cache imc-00000001"),
        ("pending", cache(.pending), .notFound, "is Pending and cannot be used"),
        ("failed", cache(.failed), .notFound, "is Failed"),
        ("expired", cache(retentionDays: 1, created: now.addingTimeInterval(-2 * 86400)), .notFound, "is expired"),
        ("unknown", nil, .notFound, "is not found"),
        ("updating, the previous images", updated(.updating), .used, ""),
        ("updating, one missing", updated(.updating), .mismatch, "Image redis is not in image cache imc-00000001"),
        ("update failed, the previous images", updated(.updateFailed), .used, ""),
    ]

    @Test(arguments: manual)
    func aNamedCacheIsUsedEvenWhenItLacksAnImageButNotWhenItCannotServe(
        _ label: String, cache: ImageCache?, outcome: CacheOutcome, message: String
    ) {
        let images = label.hasSuffix("one missing") ? ["nginx", "redis"] : ["docker.io/library/nginx:latest"]
        let s = CacheSelection.select(.manual(id: "imc-00000001", cache), images: images, now: Self.now)
        #expect(s.outcome == outcome)
        #expect((s.cache != nil) == (outcome == .used || outcome == .mismatch), "the disk is the cache's when it can serve")
        if message.isEmpty { #expect(s.events.isEmpty) } else { #expect(s.events.contains { $0.1.contains(message) }) }
        if outcome == .mismatch { #expect(s.missing == ["redis"] && s.events[0].0.kind == .warning) }
    }

    @Test func aNamedCacheOfAnotherPlatformIsNotUsed() {
        var arm = Self.cache()
        arm.platform = "linux/arm64"
        let s = CacheSelection.select(.manual(id: "imc-00000001", arm), images: ["nginx"], now: Self.now, platform: "linux/amd64")
        #expect(s.outcome == .notFound && s.cache == nil)
        #expect(s.events.first?.1.contains("holds images for linux/arm64, and this instance runs on linux/amd64") == true)
    }

    @Test func aCacheWhoseSnapshotCannotBeUsedIsAWarningAndAPull() {
        let s = CacheSelection.unusable("imc-00000001", why: "snapshot snap-1 does not match its checksum")
        #expect(s.outcome == .notFound && s.cache == nil)
        #expect(s.events.map(\.0) == [.imageCacheNotFound] && s.events[0].1.contains("pulled normally"))
    }
}

/// The annotations' meanings, shared by every door, and an account's defaults filling only
/// what a request left unsaid.
struct CacheAnnotationTests {
    @Test func eachAnnotationSetsItsFieldOrNamesTheBadValue() throws {
        var o = CacheRequestOptions()
        try CacheAnnotation.useImageCache.apply("auto", to: &o)
        #expect(o.use == "auto")
        try CacheAnnotation.useImageCache.apply("off", to: &o)
        #expect(o.use == nil)
        try CacheAnnotation.useImageCache.apply("imc-00000001", to: &o)
        try CacheAnnotation.diskType.apply("CLOUD_SSD", to: &o)
        try CacheAnnotation.diskSize.apply("40", to: &o)
        try CacheAnnotation.retainMinute.apply("0", to: &o)
        #expect(o == CacheRequestOptions(use: "imc-00000001", diskType: .ssd, diskSizeGiB: 40, retainMinutes: 0))
        for (a, bad) in [(CacheAnnotation.useImageCache, "sometimes"), (.diskType, "FLOPPY"), (.diskSize, "0"), (.retainMinute, "-1")] {
            #expect {
                try a.apply(bad, to: &o)
            } throws: { "\($0)".contains(a.rawValue) && "\($0)".contains(bad) }
        }
    }

    @Test func defaultsFillOnlyWhatWasLeftUnsaidAndAnAccountsOwnWin() {
        let defaults = InstanceDefaults(
            everyAccount: [CacheAnnotation.useImageCache.rawValue: "auto", CacheAnnotation.retainMinute.rawValue: "5"],
            perAccount: ["b": [CacheAnnotation.useImageCache.rawValue: "off"]])
        var said = CacheRequestOptions(use: nil, retainMinutes: 1)
        #expect(defaults.fill(&said, unsaid: [], account: "a").isEmpty && said.use == nil, "nothing unsaid: nothing filled")
        var unsaid = CacheRequestOptions()
        let applied = defaults.fill(&unsaid, unsaid: [.useImageCache, .retainMinute], account: "a")
        #expect(unsaid.use == "auto" && unsaid.retainMinutes == 5 && applied.count == 2)
        var other = CacheRequestOptions()
        defaults.fill(&other, unsaid: [.useImageCache], account: "b")
        #expect(other.use == nil, "the account's own default (off) wins over every account's")
    }
}

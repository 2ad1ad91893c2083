import Foundation
import IMCCache
import Testing

struct CacheMatcherTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    static func cache(
        _ id: String, _ images: [String], size: Int = 20, created: Double = 0, status: CacheStatus = .ready, account: String = "a",
        region: String = "ap-guangzhou", retention: Int = 0, updatedTo: [String]? = nil
    ) -> ImageCache {
        var c = ImageCache(
            id: id, account: account, region: region, name: id, size: size, images: images, creationTime: t0.addingTimeInterval(created),
            retentionDays: retention)
        if status != .pending && status != .failed { c.serve(snapshot: "snap-\(id.dropFirst(4))", checksum: nil) }
        if let updatedTo { c.images = updatedTo }
        c.status = status
        return c
    }

    static let caches = [
        cache("imc-big", ["nginx:latest", "mysql:8"], size: 50),
        cache("imc-small-old", ["docker.io/library/nginx", "redis"], size: 20, created: 0),
        cache("imc-small-new", ["nginx", "busybox"], size: 20, created: 100),
        cache("imc-pending", ["nginx"], size: 20, created: 200, status: .pending),
        cache("imc-other-account", ["nginx"], size: 20, created: 300, account: "b"),
        cache("imc-other-region", ["nginx"], size: 20, created: 300, region: "ap-shanghai"),
        cache("imc-expired", ["nginx"], size: 20, created: -10 * 86400, retention: 1),
        cache("imc-mysql", ["mysql:8"], size: 30),
        // Being rebuilt (or its rebuild failed): the previous snapshot serves its previous images.
        cache("imc-updating", ["postgres:16"], size: 20, status: .updating, updatedTo: ["postgres:17"]),
        cache("imc-update-failed", ["etcd:3.5"], size: 20, status: .updateFailed, updatedTo: ["etcd:3.6"]),
        // Another platform's images: never matched here, however well they fit.
        {
            var c = cache("imc-arm64", ["nginx", "redis:7"], size: 20, created: 500)
            c.platform = "linux/arm64"
            return c
        }(),
    ]

    @Test(arguments: [
        (["nginx"], "imc-small-new"),  // smaller first, then newer
        (["docker.io/library/nginx:latest"], "imc-small-new"),  // normalised
        (["nginx", "mysql:8"], "imc-big"),  // every image present
        (["mysql:8"], "imc-mysql"),
        (["redis", "nginx"], "imc-small-old"),
        (["nginx", "postgres"], nil),  // one image missing
        (["mysql:5"], nil),  // another tag
        (["Bad Ref"], nil),
        (["postgres:16"], "imc-updating"),  // the snapshot's images serve while the update builds
        (["postgres:17"], nil),  // the update's images match once they are built
        (["etcd:3.5"], "imc-update-failed"),
        (["etcd:3.6"], nil),
        (["redis:7"], nil),  // only the arm64 cache holds it
    ])
    func picksTheBestServingCache(images: [String], expected: String?) {
        let best = CacheMatcher.best(
            for: images, among: Self.caches, account: "a", region: "ap-guangzhou", now: Self.t0.addingTimeInterval(1000))
        #expect(best?.id == expected)
    }

    @Test(arguments: [
        (["nginx", "redis", "mysql:8"], 2, "imc-small-old"),  // two hold 2 (big: nginx, mysql; small-old: nginx, redis): smaller
        (["nginx", "busybox", "mysql:8", "redis"], 1, "imc-small-new"),  // small-new holds 2 and ties big and small-old: newer
        (["mysql:8", "nginx", "postgres:16"], 1, "imc-big"),  // the most (2) wins over a smaller cache holding 1
        (["nginx", "redis", "mysql:8"], 3, nil),  // no cache holds all three
        (["redis", "busybox", "postgres"], 1, "imc-small-new"),  // 1 each: then smaller, then newer
        (["postgres"], 1, nil),
    ])
    func aPartialMatchTakesTheCacheHoldingTheMost(images: [String], minimum: Int, expected: String?) {
        let best = CacheMatcher.best(
            for: images, among: Self.caches, account: "a", region: "ap-guangzhou", now: Self.t0.addingTimeInterval(1000), minimum: minimum)
        #expect(best?.id == expected)
    }

    @Test func aCacheServesOnlyWithASnapshotInAServingStatusUntilItExpires() {
        let t = Self.t0.addingTimeInterval(1000)
        #expect(Self.cache("imc-r", ["nginx"]).isServing(at: t))
        #expect(Self.cache("imc-u", ["nginx"], status: .updating).isServing(at: t))
        #expect(Self.cache("imc-f", ["nginx"], status: .updateFailed).isServing(at: t))
        #expect(!Self.cache("imc-p", ["nginx"], status: .pending).isServing(at: t))
        #expect(!Self.cache("imc-x", ["nginx"], status: .failed).isServing(at: t))
        #expect(!Self.cache("imc-e", ["nginx"], created: -2 * 86400, retention: 1).isServing(at: t))
        var lost = Self.cache("imc-l", ["nginx"], status: .updating)
        lost.snapshotID = nil
        #expect(!lost.isServing(at: t), "an update whose old snapshot was dropped serves nothing until it is built")
        var legacy = Self.cache("imc-o", ["nginx"], size: 30)
        (legacy.snapshotImages, legacy.snapshotSize) = (nil, nil)
        #expect(legacy.servedImages == ["nginx"] && legacy.servedSize == 30, "records from before the fields serve what they name")
        let updating = Self.cache("imc-u", ["nginx"], size: 20, status: .updating, updatedTo: ["nginx", "redis"])
        #expect(updating.servedImages == ["nginx"] && updating.images == ["nginx", "redis"])
        #expect(updating.servedSnapshotNote == "snapshot snap-u, the previous one, serving while the update builds")
    }

    @Test func expiryAndEvents() {
        var c = Self.cache("imc-x", ["nginx"], retention: 7)
        #expect(c.expireDateTime == Self.t0.addingTimeInterval(7 * 86400))
        #expect(!c.isExpired(at: Self.t0.addingTimeInterval(7 * 86400 - 1)) && c.isExpired(at: Self.t0.addingTimeInterval(7 * 86400)))
        c.retentionDays = 0
        #expect(c.expireDateTime == nil && !c.isExpired(at: .distantFuture))
        for i in 0..<3 { c.record(.warning, "PullRetry", "registry busy", at: Self.t0.addingTimeInterval(Double(i))) }
        c.record(.normal, "Pulled", "nginx", at: Self.t0.addingTimeInterval(5))
        #expect(c.events.count == 2)
        #expect(
            c.events[0].count == 3 && c.events[0].firstTimestamp == Self.t0 && c.events[0].lastTimestamp == Self.t0.addingTimeInterval(2))
        for i in 0..<10 { c.record(.normal, "Step", "\(i)", at: Self.t0, limit: 4) }
        #expect(c.events.map(\.message) == ["6", "7", "8", "9"], "the most recent are kept")
    }

    @Test func idsHaveTheRightShape() {
        let id = RandomIDGenerator().next(prefix: "imc")
        #expect(RandomIDGenerator.isValid(id, prefix: "imc"))
        #expect(!RandomIDGenerator.isValid("imc-ABCDEFGH", prefix: "imc") && !RandomIDGenerator.isValid("imc-abc", prefix: "imc"))
    }
}

struct CacheDiskManifestTests {
    @Test func aManifestWrittenBeforeVersionsIsStillReadAndANewerOneIsRefused() throws {
        let legacy = """
            {"cacheID": "imc-00000001", "images": [{"reference": "nginx", "normalized": "docker.io/library/nginx:latest",
             "manifestDigest": "sha256:\(String(repeating: "a", count: 64))", "platform": "linux/amd64",
             "layers": [{"digest": "sha256:\(String(repeating: "b", count: 64))", "diffID": "sha256:\(String(repeating: "c", count: 64))",
               "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 10, "unpackedSize": 20,
               "path": "/var/lib/imc/build/imc-00000001/layers/sha256/cc", "reused": false}]}]}
            """
        let old = try JSONDecoder().decode(CacheDiskManifest.self, from: Data(legacy.utf8))
        #expect(old.schemaVersion == 0 && old.byReference["docker.io/library/nginx:latest"]?.layers.first?.unpackedSize == 20)
        var current = old
        current.schemaVersion = CacheDiskManifest.currentVersion
        let roundTrip = try JSONDecoder().decode(CacheDiskManifest.self, from: try current.encoded())
        #expect(roundTrip == current)
        #expect(!String(decoding: try current.encoded(), as: UTF8.self).contains("/var/lib/imc"), "no paths are written")
        let future = legacy.replacingOccurrences(of: "{\"cacheID\"", with: "{\"schemaVersion\": 99, \"cacheID\"")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CacheDiskManifest.self, from: Data(future.utf8)) }
    }
}

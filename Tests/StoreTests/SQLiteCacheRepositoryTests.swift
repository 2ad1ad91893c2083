import Foundation
import IMCCache
import IMCModel
import IMCStore
import IMCTestSupport
import Testing

struct SQLiteCacheRepositoryTests {
    func cache(_ id: String, account: String = "a", created: Double = 0, status: CacheStatus = .pending) -> ImageCache {
        var c = ImageCache(
            id: id, account: account, region: "ap-guangzhou", name: "n-\(id)", size: 20, images: ["nginx"],
            creationTime: Date(timeIntervalSince1970: 1_700_000_000 + created), retentionDays: 0)
        c.status = status
        c.credentials = [CacheCredential(server: "r", username: "u", password: "p")]
        return c
    }

    @Test func roundTripsPagesAndIsolatesAccounts() throws {
        let dir = try TemporaryDirectory()
        let repo = try SQLiteCacheRepository(path: dir.appending("imc.sqlite"))
        for i in 0..<5 { try repo.insert(cache("imc-\(i)", created: Double(i))) }
        try repo.insert(cache("imc-b", account: "b"))
        #expect(try repo.get(id: "imc-2", account: "a") == cache("imc-2", created: 2))
        #expect(try repo.get(id: "imc-2", account: "b") == nil, "another account's id reads as absent")
        var q = CacheQuery()
        q.limit = 2
        q.offset = 1
        let (total, page) = try repo.list(account: "a", query: q)
        #expect(total == 5 && page.map(\.id) == ["imc-3", "imc-2"], "newest first")
        q = CacheQuery()
        q.names = ["n-imc-4", "n-imc-b"]
        #expect(try repo.list(account: "a", query: q).caches.map(\.id) == ["imc-4"])
        q = CacheQuery()
        q.ids = []
        #expect(try repo.list(account: "a", query: q).total == 0)
    }

    @Test func updatesDeletesAndSurvivesReopening() throws {
        let dir = try TemporaryDirectory()
        let path = dir.appending("imc.sqlite")
        do {
            let repo = try SQLiteCacheRepository(path: path)
            var c = cache("imc-x")
            try repo.insert(c)
            c.status = .ready
            c.snapshotID = "snap-12345678"
            try repo.update(c)
            #expect(try repo.ready(account: "a", region: "ap-guangzhou").map(\.id) == ["imc-x"])
            #expect(try repo.all(in: [.pending]).isEmpty)
            #expect(throws: (any Error).self) { try repo.update(self.cache("imc-missing")) }
            #expect(try repo.delete(id: "imc-x", account: "b") == false)
        }
        let reopened = try SQLiteCacheRepository(path: path)
        #expect(try reopened.get(id: "imc-x", account: "a")?.snapshotID == "snap-12345678")
        #expect(try reopened.delete(id: "imc-x", account: "a"))
        #expect(try reopened.get(id: "imc-x", account: "a") == nil)
    }
}

/// The indexed match agrees with `CacheMatcher`, the pure statement of the rules.
struct IndexedMatchTests {
    @Test func agreesWithThePureMatcherOnRandomCaches() throws {
        let dir = try TemporaryDirectory()
        let repo = try SQLiteCacheRepository(path: dir.appending("imc.sqlite"))
        let pool = ["nginx", "nginx:1.25", "mysql:8", "redis", "busybox", "docker.io/library/alpine:3", "ghcr.io/a/b:1"]
        var generator = SystemRandomNumberGenerator()
        var caches: [ImageCache] = []
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        for i in 0..<300 {
            let images = Array(pool.shuffled(using: &generator).prefix(Int.random(in: 1...4, using: &generator)))
            var c = ImageCache(
                id: String(format: "imc-%08d", i), account: ["a", "b"].randomElement(using: &generator)!,
                region: ["r1", "r2"].randomElement(using: &generator)!,
                name: "n", size: [20, 30, 50].randomElement(using: &generator)!, images: images,
                creationTime: now.addingTimeInterval(-Double(Int.random(in: 0...20, using: &generator)) * 86400),
                retentionDays: [0, 0, 7].randomElement(using: &generator)!)
            c.status = [CacheStatus.ready, .ready, .pending, .failed].randomElement(using: &generator)!
            try repo.insert(c)
            caches.append(c)
        }
        for _ in 0..<300 {
            let images = Array(pool.shuffled(using: &generator).prefix(Int.random(in: 1...3, using: &generator)))
            let wanted = Set(images.compactMap { try? ImageReference(parsing: $0).description })
            let sql = try repo.bestMatch(account: "a", region: "r1", images: wanted, now: now)
            let pure = CacheMatcher.best(for: images, among: caches, account: "a", region: "r1", now: now)
            #expect(sql?.id == pure?.id, "\(images)")
        }
    }
}

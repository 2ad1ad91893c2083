import Foundation
import GRDB
import IMCCache
import IMCModel
import IMCStore
import IMCTestSupport
import Testing

struct SQLCacheRepositoryTests {
    func cache(_ id: String, account: String = "a", created: Double = 0, status: CacheStatus = .pending) -> ImageCache {
        var c = ImageCache(
            id: id, account: account, region: "ap-guangzhou", name: "n-\(id)", size: 20, images: ["nginx"],
            creationTime: Date(timeIntervalSince1970: 1_700_000_000 + created), retentionDays: 0)
        c.status = status
        c.credentials = [CacheCredential(server: "r", username: "u", password: "p")]
        return c
    }

    @Test func roundTripsPagesAndIsolatesAccounts() async throws {
        let dir = try TemporaryDirectory()
        let repo = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
        for i in 0..<5 { try await repo.insert(cache("imc-\(i)", created: Double(i))) }
        try await repo.insert(cache("imc-b", account: "b"))
        var third = cache("imc-2", created: 2)
        third.revision = 3  // the store's revision of its last change: the third insert
        #expect(try await repo.get(id: "imc-2", account: "a") == third)
        #expect(try await repo.get(id: "imc-2", account: "b") == nil, "another account's id reads as absent")
        var q = CacheQuery()
        q.limit = 2
        q.offset = 1
        let (total, page) = try await repo.list(account: "a", query: q)
        #expect(total == 5 && page.map(\.id) == ["imc-3", "imc-2"], "newest first")
        q = CacheQuery()
        q.names = ["n-imc-4", "n-imc-b"]
        #expect(try await repo.list(account: "a", query: q).caches.map(\.id) == ["imc-4"])
        q = CacheQuery()
        q.ids = []
        #expect(try await repo.list(account: "a", query: q).total == 0)
    }

    @Test func updatesDeletesAndSurvivesReopening() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.appending("imc.sqlite")
        do {
            let repo = SQLCacheRepository(database: try SQLiteDatabase(path: path))
            var c = cache("imc-x")
            try await repo.insert(c)
            c.status = .ready
            c.serve(snapshot: "snap-12345678", checksum: nil)
            try await repo.update(c)
            #expect(try await repo.serving(account: "a", region: "ap-guangzhou", now: Date()).map(\.id) == ["imc-x"])
            #expect(try await repo.all(in: [.pending]).isEmpty)
            await #expect(throws: (any Error).self) { try await repo.update(self.cache("imc-missing")) }
            #expect(try await repo.delete(id: "imc-x", account: "b") == false)
        }
        let reopened = SQLCacheRepository(database: try SQLiteDatabase(path: path))
        #expect(try await reopened.get(id: "imc-x", account: "a")?.snapshotID == "snap-12345678")
        #expect(try await reopened.delete(id: "imc-x", account: "a"))
        #expect(try await reopened.get(id: "imc-x", account: "a") == nil)
    }
}

/// ImageCacheName is unique per account: the store refuses a second cache of a name, and a
/// database from before the rule keeps every cache, the later duplicates renamed with an event.
struct UniqueNameTests {
    func cache(_ id: String, name: String, account: String = "a", created: Double) -> ImageCache {
        ImageCache(
            id: id, account: account, region: "r", name: name, size: 20, images: ["nginx"],
            creationTime: Date(timeIntervalSince1970: 1_700_000_000 + created), retentionDays: 0)
    }

    @Test func theStoreRefusesASecondCacheOfANameInOneAccount() async throws {
        let dir = try TemporaryDirectory()
        let repo = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
        try await repo.insert(cache("imc-1", name: "web", created: 0))
        await #expect(throws: StoreError.self) { try await repo.insert(self.cache("imc-2", name: "web", created: 1)) }
        try await repo.insert(cache("imc-3", name: "web", account: "b", created: 2))
        var renamed = cache("imc-4", name: "api", created: 3)
        try await repo.insert(renamed)
        renamed.name = "web"
        await #expect(throws: StoreError.self) { try await repo.update(renamed) }
        #expect(try await repo.get(id: "imc-4", account: "a")?.name == "api", "the refused write changed nothing")
        await #expect(throws: StoreError.self) { try await repo.modify(id: "imc-4", account: "a") { $0.name = "web" } }
    }

    @Test func duplicatesFromBeforeTheRuleAreRenamedNotLost() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.appending("imc.sqlite")
        do {
            let repo = SQLCacheRepository(database: try SQLiteDatabase(path: path))
            try await repo.insert(cache("imc-old", name: "web", created: 0))
        }
        // The database as a version before the rule left it: the index gone, duplicates present.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "DROP INDEX caches_name")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v6-unique-cache-names'")
            let data = try Row.fetchOne(db, sql: "SELECT data FROM caches WHERE id = 'imc-old'")!["data"] as Data
            for (id, created) in [("imc-new", 1_700_000_100.0), ("imc-newer", 1_700_000_200.0)] {
                let copy = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "imc-old", with: id)
                try db.execute(
                    sql:
                        "INSERT INTO caches (id, account, region, name, status, size, creation, data) VALUES (?, 'a', 'r', 'web', 'Pending', 20, ?, ?)",
                    arguments: [id, created, Data(copy.utf8)])
            }
        }
        try queue.close()
        let repo = SQLCacheRepository(database: try SQLiteDatabase(path: path))
        let all = try await repo.list(account: "a", query: CacheQuery()).caches
        #expect(Set(all.map(\.id)) == ["imc-old", "imc-new", "imc-newer"], "nothing lost")
        #expect(try await repo.get(id: "imc-old", account: "a")?.name == "web", "the oldest keeps the name")
        for id in ["imc-new", "imc-newer"] {
            let c = try #require(try await repo.get(id: id, account: "a"))
            #expect(c.name == id && c.events.last?.reason == "Renamed" && c.events.last?.message.contains("web") == true)
        }
        await #expect(throws: StoreError.self) { try await repo.insert(self.cache("imc-x", name: "web", created: 9)) }
    }
}

/// The indexed match agrees with `CacheMatcher`, the pure statement of the rules.
struct IndexedMatchTests {
    @Test func agreesWithThePureMatcherOnRandomCaches() async throws {
        let dir = try TemporaryDirectory()
        let repo = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
        let pool = ["nginx", "nginx:1.25", "mysql:8", "redis", "busybox", "docker.io/library/alpine:3", "ghcr.io/a/b:1"]
        var generator = SystemRandomNumberGenerator()
        var caches: [ImageCache] = []
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        for i in 0..<300 {
            let images = Array(pool.shuffled(using: &generator).prefix(Int.random(in: 1...4, using: &generator)))
            var c = ImageCache(
                id: String(format: "imc-%08d", i), account: ["a", "b"].randomElement(using: &generator)!,
                region: ["r1", "r2"].randomElement(using: &generator)!,
                name: "n-\(i)", size: [20, 30, 50].randomElement(using: &generator)!, images: images,
                creationTime: now.addingTimeInterval(-Double(Int.random(in: 0...20, using: &generator)) * 86400),
                retentionDays: [0, 0, 7].randomElement(using: &generator)!)
            let status = [CacheStatus.ready, .ready, .pending, .failed, .updating, .updateFailed].randomElement(using: &generator)!
            if status != .pending && status != .failed { c.serve(snapshot: "snap-\(i)", checksum: nil) }
            if status == .updating || status == .updateFailed {
                c.images = Array(pool.shuffled(using: &generator).prefix(Int.random(in: 1...4, using: &generator)))
            }
            c.status = status
            c.platform = [nil, nil, "linux/arm64", Platform.host.description].randomElement(using: &generator)!
            try await repo.insert(c)
            caches.append(c)
        }
        for _ in 0..<300 {
            let images = Array(pool.shuffled(using: &generator).prefix(Int.random(in: 1...3, using: &generator)))
            let wanted = Set(images.compactMap { try? ImageReference(parsing: $0).description })
            let minimum = [nil, 1, 2].randomElement(using: &generator)!
            let sql = try await repo.bestMatch(account: "a", region: "r1", images: wanted, now: now, minimum: minimum)
            let pure = CacheMatcher.best(for: images, among: caches, account: "a", region: "r1", now: now, minimum: minimum)
            #expect(sql?.id == pure?.id, "\(images) minimum \(String(describing: minimum))")
        }
    }
}

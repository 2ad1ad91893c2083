import Foundation
import IMCCache
import IMCCaches
import IMCServiceSupport
import IMCStore
import IMCTestSupport
import Synchronization
import Testing

struct CacheServiceTests {
    final class SequentialIDs: IDGenerator {
        let counter = Mutex(0)
        func next(prefix: String) -> String {
            counter.withLock {
                $0 += 1
                return "\(prefix)-\(String(format: "%08d", $0))"
            }
        }
    }

    static func service(_ dir: TemporaryDirectory, now: Date = Date(timeIntervalSince1970: 1_700_000_000)) throws -> CacheService {
        CacheService(
            repository: SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"))), ids: SequentialIDs(),
            clock: FixedClock(now))
    }

    @Test func createValidatesAndRecordsAnEvent() async throws {
        let dir = try TemporaryDirectory()
        let s = try Self.service(dir)
        var r = CacheRequest()
        r.images = ["nginx", "mysql:8"]
        let c = try await s.create(r, account: "a", region: "ap-guangzhou")
        #expect(c.id == "imc-00000001" && c.status == .pending && c.size == 20 && c.name == c.id)
        #expect(c.events.first?.reason == "Creating")
        for (field, value, words) in [("size", 19, "ImageCacheSize"), ("size", 5000, "5000"), ("retention", -1, "RetentionDays")] {
            var bad = r
            if field == "size" { bad.size = value } else { bad.retentionDays = value }
            do {
                _ = try await s.create(bad, account: "a", region: "ap-guangzhou")
                Issue.record("accepted \(field)=\(value)")
            } catch let e as ServiceError where e.code == .invalidValue {
                let m = e.message
                #expect(m.contains(words) && m.contains("\(value)"), "\(m)")
            }
        }
        #expect(try await s.describe(account: "a", query: CacheQuery()).total == 1, "refused requests leave nothing")
    }

    @Test func updateInPlaceOrRebuildAndDeleteAllOrNothing() async throws {
        let dir = try TemporaryDirectory()
        let s = try Self.service(dir)
        var r = CacheRequest()
        r.images = ["nginx"]
        let a = try await s.create(r, account: "a", region: "ap-guangzhou")
        var rename = CacheRequest()
        rename.name = "web"
        #expect(try await s.update(id: a.id, rename, account: "a").name == "web")
        var more = CacheRequest()
        more.images = ["nginx", "redis"]
        await #expect(throws: ServiceError.self) { try await s.update(id: a.id, more, account: "a") }  // still Pending
        await #expect(throws: ServiceError.notFound("ImageCacheId imc-zzzzzzzz does not exist")) {
            try await s.delete(ids: [a.id, "imc-zzzzzzzz"], account: "a")
        }
        #expect(try await s.describe(account: "a", query: CacheQuery()).total == 1, "nothing deleted when one id is unknown")
        await #expect(throws: ServiceError.self) { try await s.delete(ids: [a.id], account: "b") }
        try await s.delete(ids: [a.id], account: "a")
        #expect(try await s.describe(account: "a", query: CacheQuery()).total == 0)
    }
}

/// Caches created for instances that matched nothing: one per set of images, least recently
/// used evicted past the account's quota, with events that say so.
struct AutoCreateTests {
    @Test func oneCachePerSetOfImagesAndTheLeastRecentlyUsedGoesPastTheQuota() async throws {
        let dir = try TemporaryDirectory()
        let clock = TestClock(start: Date(timeIntervalSince1970: 1_700_000_000))
        var quotas = AccountQuotas()
        quotas.autoCreatedCaches = 2
        let s = CacheService(
            repository: SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"))), quotas: quotas, clock: clock)
        #expect(
            CacheService.autoCreatedName(images: ["redis", "nginx"], platform: "linux/amd64")
                == CacheService.autoCreatedName(images: ["docker.io/library/nginx:latest", "redis:latest"], platform: "linux/amd64"))
        #expect(
            CacheService.autoCreatedName(images: ["nginx"], platform: "linux/amd64")
                != CacheService.autoCreatedName(images: ["nginx"], platform: "linux/arm64"))
        func make(_ images: [String]) async throws -> CacheService.AutoCreated {
            clock.advance(60)
            return try await s.autoCreate(
                images: images, account: "a", region: "r", credentials: [], plainHTTP: ["reg:5000"], skipVerify: [])
        }
        let a = try await make(["nginx"])
        #expect(a.created && a.cache.name.hasPrefix("auto-") && a.cache.tags.contains(CacheService.autoCreatedTag))
        #expect(a.cache.registryHttpEndPointList == ["reg:5000"] && a.cache.events.last?.reason == "AutoCreated")
        #expect(try await make(["docker.io/library/nginx:latest"]).created == false, "the same images: the same cache")
        let b = try await make(["redis"])
        // a is used after b was made: b is the least recently used when a third comes.
        clock.advance(60)
        try await s.repository.modify(id: a.cache.id, account: "a") { $0.lastMatchedTime = clock.now() }
        // A cache the user made is never counted or evicted.
        var own = CacheRequest()
        own.images = ["mysql"]
        own.name = "auto-mine"
        let mine = try await s.create(own, account: "a", region: "r")
        let c = try await make(["postgres"])
        #expect(c.created && c.evicted.map(\.id) == [b.cache.id])
        #expect(c.cache.events.contains { $0.reason == "AutoCreatedCacheEvicted" && $0.message.contains(b.cache.id) })
        let left = Set(try await s.describe(account: "a", query: CacheQuery()).caches.map(\.id))
        #expect(left == [a.cache.id, c.cache.id, mine.id])
    }
}

struct ExpiryTests {
    @Test func theSweeperDeletesExactlyTheExpiredCaches() async throws {
        let dir = try TemporaryDirectory()
        let clock = TestClock(start: Date(timeIntervalSince1970: 1_700_000_000))
        let s = CacheService(repository: SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite"))), clock: clock)
        var week = CacheRequest()
        week.images = ["nginx"]
        week.retentionDays = 7
        let a = try await s.create(week, account: "a", region: "ap-guangzhou")
        var forever = CacheRequest()
        forever.images = ["nginx"]
        let b = try await s.create(forever, account: "a", region: "ap-guangzhou")
        clock.advance(7 * 86400 - 1)
        #expect(try await s.sweepExpired().isEmpty)
        clock.advance(1)
        #expect(try await s.sweepExpired() == [a.id])
        #expect(try await s.describe(account: "a", query: CacheQuery()).caches.map(\.id) == [b.id])
    }
}

struct WakeupTests {
    @Test func aRingWakesAWaiterAndIsKeptWhenNoOneWaits() async throws {
        let bell = Wakeup()
        bell.signal()
        #expect(await bell.wait(upTo: .seconds(600)), "a ring with no one waiting is kept")
        async let waited = bell.wait(upTo: .seconds(600))
        try await Task.sleep(for: .milliseconds(50))
        bell.signal()
        #expect(await waited, "the waiter woke on the ring, not the timeout")
        #expect(await bell.wait(upTo: .milliseconds(100)) == false, "without a ring, the wait lasts its timeout")
    }
}

import Foundation
import IMCCache
import IMCService
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
        CacheService(repository: try SQLiteCacheRepository(path: dir.appending("imc.sqlite")), ids: SequentialIDs(), clock: FixedClock(now))
    }

    @Test func createValidatesAndRecordsAnEvent() throws {
        let dir = try TemporaryDirectory()
        let s = try Self.service(dir)
        var r = CacheRequest()
        r.images = ["nginx", "mysql:8"]
        let c = try s.create(r, account: "a", region: "ap-guangzhou")
        #expect(c.id == "imc-00000001" && c.status == .pending && c.size == 20 && c.name == c.id)
        #expect(c.events.first?.reason == "Creating")
        for (field, value, words) in [("size", 19, "ImageCacheSize"), ("size", 5000, "5000"), ("retention", -1, "RetentionDays")] {
            var bad = r
            if field == "size" { bad.size = value } else { bad.retentionDays = value }
            do {
                _ = try s.create(bad, account: "a", region: "ap-guangzhou")
                Issue.record("accepted \(field)=\(value)")
            } catch let e as ServiceError where e.code == .invalidValue {
                let m = e.message
                #expect(m.contains(words) && m.contains("\(value)"), "\(m)")
            }
        }
        #expect(try s.describe(account: "a", query: CacheQuery()).total == 1, "refused requests leave nothing")
    }

    @Test func updateInPlaceOrRebuildAndDeleteAllOrNothing() throws {
        let dir = try TemporaryDirectory()
        let s = try Self.service(dir)
        var r = CacheRequest()
        r.images = ["nginx"]
        let a = try s.create(r, account: "a", region: "ap-guangzhou")
        var rename = CacheRequest()
        rename.name = "web"
        #expect(try s.update(id: a.id, rename, account: "a").name == "web")
        var more = CacheRequest()
        more.images = ["nginx", "redis"]
        #expect(throws: ServiceError.self) { try s.update(id: a.id, more, account: "a") }  // still Pending
        #expect(throws: ServiceError.notFound("ImageCacheId imc-zzzzzzzz does not exist")) {
            try s.delete(ids: [a.id, "imc-zzzzzzzz"], account: "a")
        }
        #expect(try s.describe(account: "a", query: CacheQuery()).total == 1, "nothing deleted when one id is unknown")
        #expect(throws: ServiceError.self) { try s.delete(ids: [a.id], account: "b") }
        try s.delete(ids: [a.id], account: "a")
        #expect(try s.describe(account: "a", query: CacheQuery()).total == 0)
    }
}

struct ExpiryTests {
    @Test func theSweeperDeletesExactlyTheExpiredCaches() throws {
        let dir = try TemporaryDirectory()
        let clock = TestClock(start: Date(timeIntervalSince1970: 1_700_000_000))
        let s = CacheService(repository: try SQLiteCacheRepository(path: dir.appending("imc.sqlite")), clock: clock)
        var week = CacheRequest()
        week.images = ["nginx"]
        week.retentionDays = 7
        let a = try s.create(week, account: "a", region: "ap-guangzhou")
        var forever = CacheRequest()
        forever.images = ["nginx"]
        let b = try s.create(forever, account: "a", region: "ap-guangzhou")
        clock.advance(7 * 86400 - 1)
        #expect(try s.sweepExpired().isEmpty)
        clock.advance(1)
        #expect(try s.sweepExpired() == [a.id])
        #expect(try s.describe(account: "a", query: CacheQuery()).caches.map(\.id) == [b.id])
    }
}

struct WakeupTests {
    @Test func aRingWakesAWaiterAndIsKeptWhenNoOneWaits() async throws {
        let bell = Wakeup()
        bell.signal()
        let t0 = ContinuousClock.now
        await bell.wait(upTo: .seconds(30))
        #expect(ContinuousClock.now - t0 < .seconds(5), "a ring with no one waiting is kept")
        async let waited: Void = bell.wait(upTo: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        bell.signal()
        await waited
        #expect(ContinuousClock.now - t0 < .seconds(10), "the waiter woke on the ring, not the timeout")
        let t1 = ContinuousClock.now
        await bell.wait(upTo: .milliseconds(100))
        #expect(ContinuousClock.now - t1 >= .milliseconds(100), "without a ring, the wait lasts its timeout")
    }
}

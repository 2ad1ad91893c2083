import Foundation
import IMCCache
import IMCCaches
import IMCDisks
import IMCInstance
import IMCOS
import IMCServiceSupport
import IMCStore
import IMCTestSupport
import Testing

/// Per-account quotas, in counts and in GiB: each refusal is LimitExceeded and names the quota;
/// one account's use never counts against another's.
@Suite(.serialized)
struct QuotaTests {
    func cacheService(_ quotas: AccountQuotas) throws -> (CacheService, TemporaryDirectory) {
        let dir = try TemporaryDirectory(prefix: "imc-quota")
        let repository = SQLCacheRepository(database: try SQLiteDatabase(path: dir.appending("imc.sqlite")))
        return (CacheService(repository: repository, quotas: quotas), dir)
    }

    func request(size: Int) -> CacheRequest {
        var r = CacheRequest()
        r.images = ["nginx"]
        r.size = size
        return r
    }

    @Test func cachesAreCountedAndTheirDisksWeighedPerAccount() async throws {
        var quotas = AccountQuotas()
        quotas.caches = 3
        quotas.cacheDiskGiB = 60
        let (service, dir) = try cacheService(quotas)
        defer { withExtendedLifetime(dir) {} }
        _ = try await service.create(request(size: 20), account: "a", region: "r")
        let second = try await service.create(request(size: 20), account: "a", region: "r")
        await #expect(
            throws: ServiceError(
                .limitExceeded, "quota cacheDiskGiB is 60 GiB: the account has 40 GiB of cache disks, and 30 GiB more would pass it")
        ) {
            try await service.create(request(size: 30), account: "a", region: "r")
        }
        var grow = CacheRequest()
        grow.size = 50
        await #expect(throws: ServiceError.self) { try await service.update(id: second.id, grow, account: "a") }
        _ = try await service.create(request(size: 20), account: "a", region: "r")
        await #expect(throws: ServiceError(.limitExceeded, "quota caches is 3: the account has 3 image caches, and 1 more would pass it")) {
            try await service.create(request(size: 20), account: "a", region: "r")
        }
        // Another account's quota is its own.
        _ = try await service.create(request(size: 20), account: "b", region: "r")
    }

    @Test(.enabled(if: InstanceHarness.available, "needs root, runc, busybox-static and xfsprogs"))
    func instancesAreCountedAndTheirDisksWeighed() async throws {
        var quotas = AccountQuotas()
        quotas.instances = 2
        quotas.instanceDiskGiB = 30
        quotas.retainedDiskGiB = 10
        let harness = try await InstanceHarness(quotas: quotas)
        do {
            harness.registry.add(try RunnableImages.image(), repository: "app", tag: "v1")
            let image = "\(harness.registry.host)/app:v1"
            _ = try await harness.buildCache([image], size: 20)
            // The first holds a 20 GiB disk; the second would pass 30 GiB: it fails, naming the quota.
            let first = try await harness.service.create(
                harness.request(image: image, command: ["/bin/sleep", "30"]), account: harness.account, region: harness.region)
            _ = try await harness.wait(first[0].id) { $0.status == .running }
            var r = harness.request(image: image, command: ["/bin/true"])
            r.cache.retainMinutes = 10
            let (second, _) = try await harness.run(r)
            #expect(
                second.status == .failed && second.message?.contains("quota instanceDiskGiB is 30 GiB") == true, "\(second.message ?? "")")
            await #expect(throws: ServiceError.self) {
                try await harness.service.create(
                    harness.request(image: image, command: ["/bin/true"]), account: harness.account, region: harness.region)
            }
            try await harness.remove(second.id)
            try await harness.remove(first[0].id)
            // A disk kept after its instance counts against the retained quota (10 GiB < 20): not kept.
            let (third, _) = try await harness.run(r)
            #expect(third.status == .succeeded)
            try await harness.remove(third.id)
            await #expect(try harness.instances.disks().isEmpty, "not retained past the quota")
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    @Test(.enabled(if: InstanceHarness.available, "needs root, runc, busybox-static and xfsprogs"))
    func pullsWithoutACacheFillTheAccountsStoreNotTheHost() async throws {
        var quotas = AccountQuotas()
        quotas.nodeStoreGiB = 1  // 16 MiB in this harness's GiB
        let harness = try await InstanceHarness(quotas: quotas)
        do {
            harness.registry.add(try RunnableImages.image(padding: 24 << 20), repository: "big", tag: "v1")
            let (done, _) = try await harness.run(
                harness.request(image: "\(harness.registry.host)/big:v1", command: ["/bin/true"], use: nil))
            #expect(done.status == .failed)
            #expect(done.message?.contains("quota nodeStoreGiB") == true, "\(done.message ?? "")")
            try await harness.remove(done.id)
            #expect(
                MountTable.targets(under: harness.dir.appending("instances/node")).isEmpty, "the store's disk is gone with its last user")
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }
}

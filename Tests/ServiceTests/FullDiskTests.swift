import Foundation
import IMCCache
import IMCCaches
import IMCDisks
import IMCInstance
import IMCOS
import IMCStore
import IMCTestSupport
import Testing

/// A full pool or a full data root fails the one operation that needed the space, with an
/// event that says so; the service keeps answering, and no row or snapshot is lost. The data root
/// here is a small tmpfs, filled by the test.
@Suite(.serialized, .enabled(if: InstanceHarness.available, "needs root, runc, busybox-static and xfsprogs"))
struct FullDiskTests {
    /// A small tmpfs as the data root (its pool a 1 GiB XFS file in it), unmounted at the end.
    func withSmallDataRoot(size: String = "512m", _ body: (InstanceHarness) async throws -> Void) async throws {
        let root = try TemporaryDirectory(prefix: "imc-full")
        try await Command.check(["/usr/bin/mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", root.path])
        defer { _ = try? Mount.unmount(root.path) }
        let harness = try await InstanceHarness(dataRoot: root, poolSizeGiB: 1, reserveBytes: 32 << 20)
        do { try await body(harness) } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    /// Writes a file of zeros at `path` until `filesystem` has about `leave` bytes free.
    func fill(_ path: String, on filesystem: String, leaving leave: Int64) throws {
        let free = try #require(FreeSpace.bytes(at: filesystem))
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 1, count: 1 << 20)
        var left = free - leave
        while left > 0 {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, Int(min(Int64($0.count), left))) }
            guard n > 0 else { break }
            left -= Int64(n)
        }
        fsync(fd)
    }

    /// Removes the filler and waits (10 s at most) until the filesystem shows the space free again:
    /// XFS frees a large file's blocks in the background after the unlink.
    func empty(_ path: String, on filesystem: String) async throws {
        unlink(path)
        let deadline = ContinuousClock.now + .seconds(10)
        while (FreeSpace.bytes(at: filesystem) ?? 0) < 256 << 20, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func aFullDataRootFailsTheBuildAndKeepsEveryRow() async throws {
        try await withSmallDataRoot { harness in
            harness.registry.add(try RunnableImages.image(), repository: "app", tag: "v1")
            let image = "\(harness.registry.host)/app:v1"
            let ready = try await harness.buildCache([image])
            try fill(harness.dir.appending("filler"), on: harness.dir.path, leaving: 16 << 20)
            var request = CacheRequest()
            request.images = [image]
            request.size = 20
            request.registryHttpEndPointList = [harness.registry.host]
            let second = try await harness.caches.create(request, account: harness.account, region: harness.region)
            let failed = try #require(await harness.builder.build(second.id, account: harness.account))
            #expect(failed.status == .failed)
            let event = try #require(failed.events.last)
            #expect(
                event.reason == "DiskFailed" && event.message.contains("not enough free space") && event.message.contains("reserve"),
                "\(event.message)")
            // The service answers, the first cache and its snapshot are as they were.
            let listed = try await harness.caches.describe(account: harness.account, query: CacheQuery())
            #expect(listed.total == 2)
            #expect(try await harness.cacheRepository.get(id: ready.id, account: harness.account)?.status == .ready)
            #expect(harness.snapshots.allSnapshotIDs().contains(ready.snapshotID!))
            // An instance needs a disk too: it fails with the same reason, and nothing is left.
            let (instance, _) = try await harness.run(harness.request(image: image, command: ["/bin/true"]))
            #expect(instance.status == .failed && instance.events.contains { $0.message.contains("not enough free space") })
            try await harness.remove(instance.id)
            // With space again, the next build works.
            try await empty(harness.dir.appending("filler"), on: harness.dir.path)
            let rebuilt = try #require(await harness.builder.build(second.id, account: harness.account))
            #expect(rebuilt.status == .ready, "\(rebuilt.events.map(\.message))")
        }
    }

    @Test func aFullPoolFailsTheInstanceStartAndTheServiceGoesOn() async throws {
        // The data root is larger than the pool here, so that the pool fills first.
        try await withSmallDataRoot(size: "1600m") { harness in
            harness.registry.add(try RunnableImages.image(), repository: "app", tag: "v1")
            let image = "\(harness.registry.host)/app:v1"
            let ready = try await harness.buildCache([image])
            try fill(harness.pool.root + "/filler", on: harness.pool.root, leaving: 16 << 20)
            let (instance, _) = try await harness.run(harness.request(image: image, command: ["/bin/true"]))
            #expect(instance.status == .failed)
            #expect(instance.events.contains { $0.message.contains("not enough free space") && $0.message.contains(harness.pool.root) })
            try await harness.remove(instance.id)
            #expect(try await harness.cacheRepository.get(id: ready.id, account: harness.account)?.snapshotID == ready.snapshotID)
            try await empty(harness.pool.root + "/filler", on: harness.pool.root)
            let (again, _) = try await harness.run(harness.request(image: image, command: ["/bin/true"]))
            #expect(again.status == .succeeded, "\(again.events.map(\.message))")
            try await harness.remove(again.id)
        }
    }
}

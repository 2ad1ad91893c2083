import Foundation
import IMCDisks
import IMCTestSupport
import Testing

/// A real Ceph cluster (one monitor, one OSD), real RBD images, protected snapshots and clones,
/// reaching this host through real rbd-fuse and loop devices.
@Suite(.serialized, .enabled(if: Requirements.isRoot && CephCluster.isAvailable, "needs root and Ceph"))
struct RBDSnapshotStoreTests {
    struct Bed {
        let dir: TemporaryDirectory
        let pool: DiskPool
        let rbd: RBDDisks
        let disks: DiskManager
        let store: RBDSnapshotStore
        let local: LocalSnapshotStore
        func close() {
            for id in rbd.mapped() { rbd.unmap(id) }
            try? pool.unmountPool()
        }
    }

    func bed() async throws -> Bed {
        let cluster = try CephCluster.running()
        let dir = try TemporaryDirectory(prefix: "imc-rbd")
        let pool = try await DiskPool.open(dataRoot: dir.path, poolSizeGiB: 64)
        let rbd = try await RBDDisks.attach(configuration: cluster.configuration, maps: dir.appending("rbd"))
        let disks = DiskManager(pool: pool, rbd: rbd)
        return Bed(
            dir: dir, pool: pool, rbd: rbd, disks: disks, store: try RBDSnapshotStore(disks: disks),
            local: LocalSnapshotStore(disks: DiskManager(pool: pool)))
    }

    @Test func aDiskFromASnapshotIsACloneThatHoldsTheDataAndGrows() async throws {
        let bed = try await bed()
        defer { bed.close() }
        let disk = try await bed.disks.create(sizeGiB: 20)
        #expect(disk.path.hasPrefix(bed.rbd.maps), "an RBD image, mapped by rbd-fuse")
        try await bed.disks.withMounted(disk, at: bed.dir.appending("mnt")) { root in
            try "cached layer".write(toFile: root + "/layer", atomically: true, encoding: .utf8)
            try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: root + "/big"))
        }
        let snapshot = try await bed.store.create(from: disk)
        #expect(snapshot.id.hasPrefix("snap-") && snapshot.sizeGiB == 20)
        await bed.disks.remove(disk)  // the build disk's data lives on as the snapshot's base
        #expect(bed.store.allSnapshotIDs() == [snapshot.id])
        #expect(bed.disks.allDiskIDs().isEmpty, "a snapshot's base is not a disk")

        let copy = try await bed.store.makeDisk(from: snapshot, sizeGiB: nil)
        let text = try await bed.disks.withMounted(copy, at: bed.dir.appending("mnt2")) { root in
            try "changed in the clone".write(toFile: root + "/mine", atomically: true, encoding: .utf8)
            return try String(contentsOfFile: root + "/layer", encoding: .utf8)
        }
        #expect(text == "cached layer")
        let big = try await bed.store.makeDisk(from: snapshot, sizeGiB: 200)
        #expect(big.sizeGiB == 200)
        try await bed.disks.withMounted(big, at: bed.dir.appending("mnt3")) { root in
            var fs = statvfs()
            #expect(statvfs(root, &fs) == 0 && Int64(fs.f_blocks) * Int64(fs.f_frsize) > 190 << 30, "the filesystem grew")
            #expect(!FileManager.default.fileExists(atPath: root + "/mine"), "a clone's writes are its own")
        }
        #expect(Set(bed.disks.allDiskIDs()) == [copy.id, big.id])

        // The checksum is the local store's over the same bytes.
        let checksum = try await bed.store.takeChecksum(id: snapshot.id)
        try await bed.store.verify(Snapshot(id: snapshot.id, sizeGiB: 20, checksum: checksum))
        await #expect(throws: DiskError.self) {
            try await bed.store.verify(Snapshot(id: snapshot.id, sizeGiB: 20, checksum: String(repeating: "0", count: 64)))
        }

        // Deleting the snapshot while clones use it flattens them: they keep their data.
        bed.store.delete(id: snapshot.id)
        #expect(bed.store.allSnapshotIDs().isEmpty)
        let kept = try await bed.disks.withMounted(copy, at: bed.dir.appending("mnt4")) { root in
            try String(contentsOfFile: root + "/layer", encoding: .utf8)
        }
        #expect(kept == "cached layer")
        await #expect(throws: DiskError.self) { _ = try await bed.store.makeDisk(from: snapshot, sizeGiB: nil) }
        await bed.disks.remove(copy)
        await bed.disks.remove(big)
        #expect(try bed.disks.allDiskIDs().isEmpty && bed.rbd.pool.images().isEmpty, "nothing is left in the pool")
        #expect(bed.rbd.mapped().isEmpty, "nothing is left mapped")
    }

    @Test func theSameBytesHaveTheSameChecksumOnEitherBackend() async throws {
        let bed = try await bed()
        defer { bed.close() }
        // "GiB" of 64 MiB: the file is read whole through rbd-fuse below.
        let disks = DiskManager(pool: bed.pool, rbd: bed.rbd, bytesPerGiB: 64 << 20)
        let store = try RBDSnapshotStore(disks: disks)
        let disk = try await disks.create(sizeGiB: 1)
        try await disks.withMounted(disk, at: bed.dir.appending("mnt")) { root in
            try Data((0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 * 7) }).write(to: URL(fileURLWithPath: root + "/data"))
        }
        let snapshot = try await store.create(from: disk)
        let rbdChecksum = try await store.takeChecksum(id: snapshot.id)
        // The same image, mapped again and read through rbd-fuse as a file, hashed by the local
        // store's code.
        try await bed.rbd.map(disk.id)
        let fileChecksum = try LocalSnapshotStore.checksum(of: bed.rbd.path(disk.id))
        #expect(rbdChecksum == fileChecksum)
        store.delete(id: snapshot.id)
        #expect((try bed.rbd.pool.images()).isEmpty)
    }
}

import Foundation
import IMCDisks
import IMCTestSupport
import Testing

/// Real sparse images, real ext4, real loop mounts, real reflinks in an XFS pool.
@Suite(.enabled(if: Requirements.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs"), "needs root and xfsprogs"))
struct DiskAndSnapshotTests {
    @Test func aSnapshotIsACloneAndADiskMadeFromItHoldsTheData() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-disks")
        let pool = try await DiskPool.open(dataRoot: dir.path, poolSizeGiB: 512)
        defer { try? pool.unmountPool() }
        #expect(pool.clones, "the XFS pool clones")
        let disks = DiskManager(pool: pool)
        let store = LocalSnapshotStore(disks: disks)
        let disk = try await disks.create(sizeGiB: 20)
        try await disks.withMounted(disk, at: dir.appending("mnt")) { root in
            try "cached layer".write(toFile: root + "/layer", atomically: true, encoding: .utf8)
            try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: root + "/big"))
        }
        let snapshot = try await store.create(from: disk)
        #expect(snapshot.id.hasPrefix("snap-") && snapshot.sizeGiB == 20)
        await disks.remove(disk)
        let started = ContinuousClock.now
        let copy = try await store.makeDisk(from: snapshot, sizeGiB: nil)
        let took = ContinuousClock.now - started
        #expect(took < .seconds(5), "a clone of a 20 GiB image is not a copy")
        let text = try await disks.withMounted(copy, at: dir.appending("mnt2")) { root in
            try String(contentsOfFile: root + "/layer", encoding: .utf8)
        }
        #expect(text == "cached layer")
        // A larger disk from the same snapshot: the filesystem grows to fit.
        let big = try await store.makeDisk(from: snapshot, sizeGiB: 200)
        #expect(big.sizeGiB == 200)
        var st = stat()
        #expect(stat(big.path, &st) == 0 && Int64(st.st_size) == 200 << 30 && Int64(st.st_blocks) * 512 < 1 << 30, "sparse")
        try await disks.withMounted(big, at: dir.appending("mnt3")) { root in
            var fs = statvfs()
            #expect(statvfs(root, &fs) == 0 && Int64(fs.f_blocks) * Int64(fs.f_frsize) > 190 << 30)
        }
        await disks.remove(copy)
        await disks.remove(big)
        store.delete(id: snapshot.id)
        #expect(store.allSnapshotIDs().isEmpty && disks.allDiskIDs().isEmpty)
    }

    @Test func aFlippedByteInASnapshotIsDetectedNotServed() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-disks")
        let pool = try await DiskPool.open(dataRoot: dir.path, poolSizeGiB: 512)
        defer { try? pool.unmountPool() }
        let disks = DiskManager(pool: pool)
        let store = LocalSnapshotStore(disks: disks)
        let disk = try await disks.create(sizeGiB: 20)
        try await disks.withMounted(disk, at: dir.appending("mnt")) { root in
            try "data".write(toFile: root + "/f", atomically: true, encoding: .utf8)
        }
        var snapshot = try await store.create(from: disk)
        #expect(snapshot.checksum == nil)
        snapshot.checksum = try await store.takeChecksum(id: snapshot.id)
        try await store.verify(snapshot)
        // The snapshot is immutable: not even root opens it for writing.
        let path = pool.root + "/snapshots/\(snapshot.id).img"
        chmod(path, 0o644)
        #expect(open(path, O_RDWR) == -1 && errno == EPERM)
        // Clearing the attribute and putting it back, data unchanged, breaks the seal: the disk
        // is still made, after every byte was hashed again.
        _ = try CommandRunner.capture("/usr/bin/chattr", ["-i", path])
        _ = try CommandRunner.capture("/usr/bin/chattr", ["+i", path])
        let fromResealed = try await store.makeDisk(from: snapshot, sizeGiB: nil)
        await disks.remove(fromResealed)
        // Flip one byte of the snapshot's data, as someone who cleared the attribute could.
        _ = try CommandRunner.capture("/usr/bin/chattr", ["-i", path])
        let fd = open(path, O_RDWR)
        var byte: UInt8 = 0
        #expect(pread(fd, &byte, 1, 1024) == 1)
        byte ^= 0xff
        #expect(pwrite(fd, &byte, 1, 1024) == 1)
        close(fd)
        await #expect(throws: DiskError.self) { try await store.makeDisk(from: snapshot, sizeGiB: nil) }
        #expect(disks.allDiskIDs() == [disk.id], "no disk was made from the corrupt snapshot")
        await disks.remove(disk)
        store.delete(id: snapshot.id)
    }
}

extension DiskAndSnapshotTests {
    @Test func aSnapshotChangedBeforeItsChecksumWasTakenIsNeverUsed() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-disks")
        let pool = try await DiskPool.open(dataRoot: dir.path, poolSizeGiB: 512)
        defer { try? pool.unmountPool() }
        let disks = DiskManager(pool: pool)
        let store = LocalSnapshotStore(disks: disks)
        let disk = try await disks.create(sizeGiB: 20)
        let snapshot = try await store.create(from: disk)
        await disks.remove(disk)
        let path = pool.root + "/snapshots/\(snapshot.id).img"
        _ = try CommandRunner.capture("/usr/bin/chattr", ["-i", path])
        let fd = open(path, O_RDWR)
        var byte: UInt8 = 1
        #expect(pwrite(fd, &byte, 1, 4096) == 1)
        close(fd)
        await #expect(throws: DiskError.self) { try await store.takeChecksum(id: snapshot.id) }
        await #expect(throws: DiskError.self) { try await store.makeDisk(from: snapshot, sizeGiB: nil) }
        #expect(disks.allDiskIDs().isEmpty)
        store.delete(id: snapshot.id)
    }
}

struct ChecksumTests {
    /// The same bytes laid out differently (explicit zeros against holes) have one checksum;
    /// other bytes have another.
    @Test func theChecksumDependsOnBytesNotLayout() throws {
        let dir = try TemporaryDirectory()
        let sparse = dir.appending("sparse")
        let dense = dir.appending("dense")
        let piece = 5 << 20
        _ = FileManager.default.createFile(atPath: sparse, contents: nil)
        let a = try #require(FileHandle(forWritingAtPath: sparse))
        try a.truncate(atOffset: UInt64(3 * piece))
        try a.seek(toOffset: UInt64(piece + 5))
        try a.write(contentsOf: Data("payload".utf8))
        try a.close()
        var bytes = Data(count: 3 * piece)
        bytes.replaceSubrange((piece + 5)..<(piece + 12), with: Data("payload".utf8))
        try bytes.write(to: URL(fileURLWithPath: dense))
        #expect(try LocalSnapshotStore.checksum(of: sparse) == LocalSnapshotStore.checksum(of: dense))
        bytes[piece + 6] ^= 1
        try bytes.write(to: URL(fileURLWithPath: dense))
        #expect(try LocalSnapshotStore.checksum(of: sparse) != LocalSnapshotStore.checksum(of: dense))
    }
}

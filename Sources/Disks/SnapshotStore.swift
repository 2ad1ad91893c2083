import CIMCSys
import Crypto
import Foundation
import IMCCache

/// An immutable snapshot of a disk, with the checksum of its data.
public struct Snapshot: Sendable, Equatable {
    /// `snap-xxxxxxxx`.
    public var id: String
    public var sizeGiB: Int
    /// SHA-256 over the image's data extents and their offsets (holes cost nothing).
    public var checksum: String

    public init(id: String, sizeGiB: Int, checksum: String) {
        self.id = id
        self.sizeGiB = sizeGiB
        self.checksum = checksum
    }
}

/// Where snapshots live.
///
/// Contract: `create` returns only once the snapshot is complete and its checksum recorded;
/// snapshots never change afterwards; `makeDisk` verifies the checksum first and refuses a
/// snapshot whose data changed; `delete` is idempotent.
public protocol SnapshotStore: Sendable {
    func create(from disk: Disk) throws -> Snapshot
    func makeDisk(from snapshot: Snapshot, sizeGiB: Int?) throws -> Disk
    func verify(_ snapshot: Snapshot) throws
    func delete(id: String)
    func allSnapshotIDs() -> [String]
}

/// Snapshots as read-only image files in the pool; a snapshot and a disk made from one are
/// reflink clones where the pool clones.
public struct LocalSnapshotStore: SnapshotStore {
    let disks: DiskManager
    let ids: any IDGenerator

    public init(disks: DiskManager, ids: any IDGenerator = RandomIDGenerator()) {
        self.disks = disks
        self.ids = ids
    }

    func path(_ id: String) -> String { "\(disks.pool.root)/snapshots/\(id).img" }

    public func create(from disk: Disk) throws -> Snapshot {
        let id = ids.next(prefix: "snap")
        let target = path(id)
        try disks.pool.copy(disk.path, to: target)
        do {
            let checksum = try Self.checksum(of: target)
            try "\(checksum) \(disk.sizeGiB)\n".write(toFile: target + ".sum", atomically: true, encoding: .utf8)
            chmod(target, 0o444)
            let fd = open(target, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                fsync(fd)
                close(fd)
            }
            return Snapshot(id: id, sizeGiB: disk.sizeGiB, checksum: checksum)
        } catch {
            delete(id: id)
            throw error
        }
    }

    public func verify(_ snapshot: Snapshot) throws {
        let actual = try Self.checksum(of: path(snapshot.id))
        guard actual == snapshot.checksum else {
            throw DiskError(
                .corrupt, "snapshot \(snapshot.id) does not match its checksum (\(actual) instead of \(snapshot.checksum)); it is not used")
        }
    }

    public func makeDisk(from snapshot: Snapshot, sizeGiB: Int? = nil) throws -> Disk {
        try verify(snapshot)
        let disk = disks.disk(id: ids.next(prefix: "disk"), sizeGiB: snapshot.sizeGiB)
        try disks.pool.copy(path(snapshot.id), to: disk.path)
        chmod(disk.path, 0o600)
        if let sizeGiB, sizeGiB > snapshot.sizeGiB {
            do { return try disks.grow(disk, to: sizeGiB) } catch {
                disks.remove(disk)
                throw error
            }
        }
        return disk
    }

    public func delete(id: String) {
        unlink(path(id))
        unlink(path(id) + ".sum")
    }

    public func allSnapshotIDs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: disks.pool.root + "/snapshots")) ?? [])
            .filter { $0.hasSuffix(".img") }.map { String($0.dropLast(4)) }
    }

    /// SHA-256 over each data extent's offset, length and bytes, found with SEEK_DATA/SEEK_HOLE.
    public static func checksum(of path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DiskError(.notFound, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while true {
            let start = imc_seek_data(fd, offset)
            if start < 0 { break }  // ENXIO: no more data
            let end = imc_seek_hole(fd, start)
            guard end > start else { break }
            withUnsafeBytes(of: (start.littleEndian, (end - start).littleEndian)) { hasher.update(bufferPointer: $0) }
            var position = start
            while position < end {
                let n = pread(fd, buffer.baseAddress, min(buffer.count, Int(end - position)), off_t(position))
                guard n > 0 else { throw DiskError(.io, "cannot read \(path): \(String(cString: strerror(errno)))") }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                position += Int64(n)
            }
            offset = end
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

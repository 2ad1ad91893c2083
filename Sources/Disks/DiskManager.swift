import Foundation
import IMCCache
import IMCOS

/// A data disk: an ext4 filesystem in a sparse image file in the pool, or in an RBD image that
/// rbd-fuse shows as a file.
public struct Disk: Sendable, Equatable {
    /// `disk-xxxxxxxx`.
    public var id: String
    public var path: String
    public var sizeGiB: Int

    public init(id: String, path: String, sizeGiB: Int) {
        self.id = id
        self.path = path
        self.sizeGiB = sizeGiB
    }
}

/// Makes, mounts and removes data disks. Host-side mounts are always `nosuid,nodev`: what an
/// image holds never gains privileges on the host.
public struct DiskManager: Sendable {
    public let pool: DiskPool
    /// Where disks are made instead of the pool's files: RBD images (nil: the pool).
    public let rbd: RBDDisks?
    /// This host's name among imc's hosts (`--node-name`): its disks' records and the snapshots
    /// it makes are marked with it, and only its own are swept after a restart.
    public let node: String
    let ids: any IDGenerator
    /// Bytes in a "GiB" of disk size: 2^30, except in tests that need small disks.
    let unit: Int64

    public init(
        pool: DiskPool, rbd: RBDDisks? = nil, node: String = ProcessInfo.processInfo.hostName, ids: any IDGenerator = RandomIDGenerator(),
        bytesPerGiB: Int64 = 1 << 30
    ) {
        self.pool = pool
        self.rbd = rbd
        self.node = node
        self.ids = ids
        unit = bytesPerGiB
    }

    /// A new, empty, formatted disk of `sizeGiB` (sparse: it uses no space until written).
    public func create(sizeGiB: Int) async throws(DiskError) -> Disk {
        let id = ids.next(prefix: "disk")
        let path: String
        if let rbd {
            path = rbd.path(id)
            try await blocking { try rbd.pool.create(id, bytes: UInt64(sizeGiB) * UInt64(unit)) }
            do throws(DiskError) { try await rbd.map(id) } catch {
                _ = try? rbd.pool.remove(id)
                throw error
            }
        } else {
            path = "\(pool.root)/disks/\(id).img"
            try pool.checkFreeSpace(for: "a new \(sizeGiB) GiB disk")
            try DiskPool.makeSparseFile(path, bytes: Int64(sizeGiB) * unit)
        }
        do throws(DiskError) {
            try await asDiskError {
                try await Command.check([
                    "/usr/sbin/mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", "-L", id,
                    path,
                ])
            }
        } catch {
            await remove(Disk(id: id, path: path, sizeGiB: sizeGiB))
            throw error
        }
        return Disk(id: id, path: path, sizeGiB: sizeGiB)
    }

    /// The disk at its path (for disks listed in the database).
    public func disk(id: String, sizeGiB: Int) -> Disk {
        Disk(id: id, path: rbd?.path(id) ?? "\(pool.root)/disks/\(id).img", sizeGiB: sizeGiB)
    }

    /// Mounts `disk` at `target` for the length of `body`, and unmounts it whatever happens.
    public func withMounted<T>(_ disk: Disk, at target: String, _ body: (String) async throws -> T) async throws -> T {
        try await mount(disk, at: target, directIO: true)
        do {
            let result = try await body(target)
            try await unmount(target)
            return result
        } catch {
            try? await unmount(target)
            throw error
        }
    }

    /// Mounts `disk` at `target` until `unmount`. With `directIO`, its loop device writes the
    /// image with direct I/O (a build disk: its pages are not cached twice).
    public func mount(_ disk: Disk, at target: String, directIO: Bool = false) async throws(DiskError) {
        if let rbd { try await rbd.map(disk.id) }
        try await asDiskError { try await Mount.loop(image: disk.path, target: target, options: ["nosuid", "nodev"], directIO: directIO) }
    }

    /// Unmounts whatever is at `target` (its loop device is released with it).
    public func unmount(_ target: String) async throws(DiskError) {
        try await blocking { try Mount.unmount(target) }
    }

    /// Removes a disk image (it must not be mounted). An RBD image that a snapshot was taken of
    /// stays: it holds that snapshot's data (`RBDSnapshotStore`), and goes with the snapshot.
    /// Fences a disk of a lost host so that host can never write it again (RBD: its client's
    /// lock is broken and the client blocklisted). Returns what was fenced, for the event; a
    /// local disk is only ever on its own host, and there is nothing to fence.
    public func fence(diskID: String) async throws(DiskError) -> [String] {
        guard let rbd else { return [] }
        return try await blocking { try rbd.pool.fence(diskID) }
    }

    /// Removes a fenced disk of a lost host: its fenced clients' watches lapse within about 30 s
    /// (until then the image is busy), so this waits up to `wait`. True when it is gone.
    public func removeFenced(diskID: String, wait: Duration = .seconds(120)) async -> Bool {
        guard let rbd else { return false }
        return (try? await blocking { try rbd.pool.remove(diskID, wait: wait) }) ?? false
    }

    /// Removes a disk (RBD: unmapped, then removed from the pool; librbd's calls block, so
    /// they run on the blocking pool, never on a thread the service's tasks need).
    public func remove(_ disk: Disk) async {
        if let rbd {
            _ = try? await blocking {
                rbd.unmap(disk.id)
                _ = try? rbd.pool.remove(disk.id)
            }
        } else {
            unlink(disk.path)
        }
    }

    /// Disk images in the pool, by id (to find files no row accounts for); with RBD, the images
    /// mapped on this host only, and not those that hold a snapshot (they are not disks any more).
    public func allDiskIDs() -> [String] {
        if let rbd {
            // The pool is shared: only this host's images, never another's in flight.
            return ((try? rbd.pool.images()) ?? []).filter { id in
                guard id.hasPrefix("disk-"), let image = try? rbd.pool.open(id), image.metadata(RBDDisks.nodeKey) == node else {
                    return false
                }
                return !image.hasSnapshot(RBDSnapshotStore.snapshotID(ofBase: id))
            }
        }
        return ((try? FileManager.default.contentsOfDirectory(atPath: pool.root + "/disks")) ?? [])
            .filter { $0.hasSuffix(".img") }.map { String($0.dropLast(4)) }
    }

    /// Grows the disk's file and filesystem to `sizeGiB` (never shrinks).
    public func grow(_ disk: Disk, to sizeGiB: Int) async throws(DiskError) -> Disk {
        guard sizeGiB > disk.sizeGiB else { return disk }
        if let rbd {
            // rbd-fuse reads an image's size when it maps it: resized unmapped, mapped again.
            rbd.unmap(disk.id)
            try await blocking { try rbd.pool.open(disk.id).resize(bytes: UInt64(sizeGiB) * UInt64(unit)) }
            try await rbd.map(disk.id)
        } else {
            try pool.checkFreeSpace(for: "growing disk \(disk.id) to \(sizeGiB) GiB")
            guard truncate(disk.path, off_t(Int64(sizeGiB) * unit)) == 0 else {
                throw DiskError(OSError.system("cannot grow \(disk.id)"))
            }
        }
        try await asDiskError {
            try await Command.check(["/usr/sbin/e2fsck", "-f", "-p", disk.path])
            try await Command.check(["/usr/sbin/resize2fs", disk.path])
        }
        var grown = disk
        grown.sizeGiB = sizeGiB
        return grown
    }
}

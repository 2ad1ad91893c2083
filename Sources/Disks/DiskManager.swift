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

/// Makes, mounts and removes data disks over a `DiskBackend` (the pool's files, or RBD images).
/// Host-side mounts are always `nosuid,nodev`: what an image holds never gains privileges on
/// the host.
public struct DiskManager: Sendable {
    public let pool: DiskPool
    /// Where disks' bytes live.
    public let backend: any DiskBackend
    /// The RBD backend, when disks are RBD images (its snapshots need it).
    public var rbd: RBDDisks? { backend as? RBDDisks }
    /// This host's name among imc's hosts (`--node-name`): its disks' records and the snapshots
    /// it makes are marked with it, and only its own are swept after a restart.
    public let node: String
    let ids: any IDGenerator
    /// Bytes in a "GiB" of disk size: 2^30, except in tests that need small disks.
    let unit: Int64

    /// Disks in `pool`, or RBD images with `rbd`.
    public init(
        pool: DiskPool, rbd: RBDDisks? = nil, node: String = ProcessInfo.processInfo.hostName, ids: any IDGenerator = RandomIDGenerator(),
        bytesPerGiB: Int64 = 1 << 30
    ) {
        self.pool = pool
        backend = rbd ?? LocalDiskBackend(pool: pool)
        self.node = node
        self.ids = ids
        unit = bytesPerGiB
    }

    /// A new, empty, formatted disk of `sizeGiB` (sparse: it uses no space until written).
    public func create(sizeGiB: Int) async throws(DiskError) -> Disk {
        let id = ids.next(prefix: "disk")
        let path = backend.path(id)
        try await backend.create(id, bytes: Int64(sizeGiB) * unit, sizeGiB: sizeGiB)
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
    public func disk(id: String, sizeGiB: Int) -> Disk { Disk(id: id, path: backend.path(id), sizeGiB: sizeGiB) }

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
        try await backend.attach(disk.id)
        try await asDiskError { try await Mount.loop(image: disk.path, target: target, options: ["nosuid", "nodev"], directIO: directIO) }
    }

    /// Unmounts whatever is at `target` (its loop device is released with it).
    public func unmount(_ target: String) async throws(DiskError) {
        try await blocking { try Mount.unmount(target) }
    }

    /// Fences a disk of a lost host so that host can never write it again. Returns what was
    /// fenced, for the event (a local disk is only ever on its own host: nothing).
    public func fence(diskID: String) async throws(DiskError) -> [String] { try await backend.fence(diskID) }

    /// Removes a fenced disk of a lost host: its fenced clients' watches lapse within about 30 s
    /// (until then the image is busy), so this waits up to `wait`. True when it is gone.
    public func removeFenced(diskID: String, wait: Duration = .seconds(120)) async -> Bool {
        await backend.removeFenced(diskID, wait: wait)
    }

    /// Removes a disk (it must not be mounted).
    public func remove(_ disk: Disk) async { await backend.remove(disk.id) }

    /// This host's disks, by id (to find those no row accounts for).
    public func allDiskIDs() -> [String] { backend.diskIDs(node: node) }

    /// Grows the disk's image and filesystem to `sizeGiB` (never shrinks).
    public func grow(_ disk: Disk, to sizeGiB: Int) async throws(DiskError) -> Disk {
        guard sizeGiB > disk.sizeGiB else { return disk }
        try await backend.resize(disk.id, bytes: Int64(sizeGiB) * unit, sizeGiB: sizeGiB)
        try await asDiskError {
            try await Command.check(["/usr/sbin/e2fsck", "-f", "-p", disk.path])
            try await Command.check(["/usr/sbin/resize2fs", disk.path])
        }
        var grown = disk
        grown.sizeGiB = sizeGiB
        return grown
    }
}

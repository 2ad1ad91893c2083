import Foundation
import IMCOS

/// Where data disks' bytes live: the local pool's sparse files (`LocalDiskBackend`) or RBD images
/// of a Ceph pool (`RBDDisks`). `DiskManager` makes, mounts, grows and removes disks over one,
/// as `SnapshotStore` is one protocol over the local and the RBD snapshots.
public protocol DiskBackend: Sendable {
    /// The file a disk's filesystem is in (a loop device mounts it).
    func path(_ id: String) -> String
    /// Makes the empty image of `bytes` (sparse, or thin), ready to format at `path`.
    func create(_ id: String, bytes: Int64, sizeGiB: Int) async throws(DiskError)
    /// Makes an existing image available on this host before it is mounted (RBD: mapped).
    func attach(_ id: String) async throws(DiskError)
    /// Resizes the image to `bytes` (its filesystem is grown after).
    func resize(_ id: String, bytes: Int64, sizeGiB: Int) async throws(DiskError)
    /// Removes the image; it must not be mounted.
    func remove(_ id: String) async
    /// This host's disks by id (to find those no record accounts for).
    func diskIDs(node: String) -> [String]
    /// Fences a lost host's disk so that host can never write it again; what was fenced.
    func fence(_ id: String) async throws(DiskError) -> [String]
    /// Removes a fenced disk, waiting up to `wait` for the lost host's hold to lapse.
    func removeFenced(_ id: String, wait: Duration) async -> Bool
}

/// Disks as sparse files in the pool (`<pool>/disks/<id>.img`): only ever on their own host, so
/// nothing to attach or fence.
public struct LocalDiskBackend: DiskBackend {
    public let pool: DiskPool

    public init(pool: DiskPool) { self.pool = pool }

    public func path(_ id: String) -> String { "\(pool.root)/disks/\(id).img" }

    public func create(_ id: String, bytes: Int64, sizeGiB: Int) async throws(DiskError) {
        try pool.checkFreeSpace(for: "a new \(sizeGiB) GiB disk")
        try DiskPool.makeSparseFile(path(id), bytes: bytes)
    }

    public func attach(_ id: String) async throws(DiskError) {}

    public func resize(_ id: String, bytes: Int64, sizeGiB: Int) async throws(DiskError) {
        try pool.checkFreeSpace(for: "growing disk \(id) to \(sizeGiB) GiB")
        guard truncate(path(id), off_t(bytes)) == 0 else { throw DiskError(OSError.system("cannot grow \(id)")) }
    }

    public func remove(_ id: String) async { unlink(path(id)) }

    public func diskIDs(node: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: pool.root + "/disks")) ?? [])
            .filter { $0.hasSuffix(".img") }.map { String($0.dropLast(4)) }
    }

    public func fence(_ id: String) async throws(DiskError) -> [String] { [] }

    public func removeFenced(_ id: String, wait: Duration) async -> Bool { false }
}

extension RBDDisks: DiskBackend {
    public func create(_ id: String, bytes: Int64, sizeGiB: Int) async throws(DiskError) {
        try await blocking { try pool.create(id, bytes: UInt64(bytes)) }
        do throws(DiskError) { try await map(id) } catch {
            _ = try? pool.remove(id)
            throw error
        }
    }

    public func attach(_ id: String) async throws(DiskError) { try await map(id) }

    /// rbd-fuse reads an image's size when it maps it: resized unmapped, mapped again.
    public func resize(_ id: String, bytes: Int64, sizeGiB: Int) async throws(DiskError) {
        unmap(id)
        try await blocking { try pool.open(id).resize(bytes: UInt64(bytes)) }
        try await map(id)
    }

    /// Unmapped, then removed from the pool (librbd's calls block: they run on the blocking
    /// pool, never on a thread the service's tasks need). An image a snapshot was taken of stays:
    /// it holds that snapshot's data (`RBDSnapshotStore`), and goes with the snapshot.
    public func remove(_ id: String) async {
        _ = try? await blocking {
            unmap(id)
            _ = try? pool.remove(id)
        }
    }

    /// The pool is shared: this host's images only, never another's in flight, and not those
    /// that hold a snapshot (they are not disks any more).
    public func diskIDs(node: String) -> [String] {
        ((try? pool.images()) ?? []).filter { id in
            guard id.hasPrefix("disk-"), let image = try? pool.open(id), image.metadata(RBDDisks.nodeKey) == node else { return false }
            return !image.hasSnapshot(RBDSnapshotStore.snapshotID(ofBase: id))
        }
    }

    /// The lost client's lock is broken and the client blocklisted.
    public func fence(_ id: String) async throws(DiskError) -> [String] { try await blocking { try pool.fence(id) } }

    public func removeFenced(_ id: String, wait: Duration) async -> Bool {
        (try? await blocking { try pool.remove(id, wait: wait) }) ?? false
    }
}

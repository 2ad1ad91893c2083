import Crypto
import Foundation
import IMCModel

/// Snapshots as protected RBD snapshots, and disks made from them as copy-on-write clones: the
/// cloud disk semantics the product describes, on the engine OpenStack boots volumes from.
///
/// A build disk `disk-X` (an RBD image, `DiskManager` with `rbd`) becomes the base of snapshot
/// `snap-X`: RBD snapshot `disk-X@snap-X`, protected, so that nothing can remove it while a clone
/// depends on it (Ceph keeps a snapshot's data read-only; protection is its seal). An instance's
/// disk is `rbd clone disk-X@snap-X disk-N`: no data is copied, whatever the size. Deleting the
/// snapshot flattens any clone still using it, then removes the snapshot and its base image.
/// Checksums are taken as `LocalSnapshotStore` takes them (the same bytes give the same
/// checksum on either backend) and kept in the base image's metadata.
public struct RBDSnapshotStore: SnapshotStore {
    let disks: DiskManager
    let rbd: RBDDisks

    public init(disks: DiskManager) throws(DiskError) {
        guard let rbd = disks.rbd else { throw DiskError(.io, "an RBD snapshot store needs disks on RBD") }
        self.disks = disks
        self.rbd = rbd
    }

    static func snapshotID(ofBase image: String) -> String { "snap-" + image.dropFirst("disk-".count) }
    static func base(of snapshotID: String) -> String { "disk-" + snapshotID.dropFirst("snap-".count) }
    static func checksumKey(_ id: String) -> String { "imc.checksum.\(id)" }

    public func create(from disk: Disk) async throws(DiskError) -> Snapshot {
        let id = Self.snapshotID(ofBase: disk.id)
        let (rbd, node) = (self.rbd, disks.node)
        try await blocking {
            // Unmapped first: every write the loop device made through rbd-fuse is in the
            // cluster, and nothing writes the image while it is snapshotted.
            guard rbd.unmap(disk.id) else {
                throw DiskError(.io, "disk \(disk.id) is still in use on this host; it cannot be snapshotted")
            }
            // Unmapped, nothing else holds the image's lock: the metadata and the snapshot are
            // written without waiting for another client to let go of it.
            let image = try rbd.pool.open(disk.id)
            try image.setMetadata(RBDDisks.nodeKey, node)
            try image.createProtectedSnapshot(id)
        }
        return Snapshot(id: id, sizeGiB: disk.sizeGiB, checksum: nil)
    }

    public func takeChecksum(id: String) async throws(DiskError) -> String {
        let rbd = self.rbd
        return try await blocking {
            let base = try rbd.pool.open(Self.base(of: id))
            if let recorded = base.metadata(Self.checksumKey(id)) { return recorded }
            guard base.isProtected(id) else {
                throw DiskError(.corrupt, "snapshot \(id) is not protected any more; its bytes cannot be vouched for and it is not used")
            }
            let checksum = try Self.checksum(of: try rbd.pool.open(Self.base(of: id), snapshot: id))
            try base.setMetadata(Self.checksumKey(id), checksum)
            return checksum
        }
    }

    public func verify(_ snapshot: Snapshot) async throws(DiskError) {
        let rbd = self.rbd
        try await blocking {
            let base = try rbd.pool.open(Self.base(of: snapshot.id))
            guard let expected = snapshot.checksum ?? base.metadata(Self.checksumKey(snapshot.id)) else {
                throw DiskError(.corrupt, "snapshot \(snapshot.id) has no checksum to verify against; it is not used")
            }
            let actual = try Self.checksum(of: try rbd.pool.open(Self.base(of: snapshot.id), snapshot: snapshot.id))
            guard actual == expected else {
                throw DiskError(
                    .corrupt, "snapshot \(snapshot.id) does not match its checksum (\(actual) instead of \(expected)); it is not used")
            }
        }
    }

    public func makeDisk(from snapshot: Snapshot, sizeGiB: Int?) async throws(DiskError) -> Disk {
        let rbd = self.rbd
        let id = disks.ids.next(prefix: "disk")
        try await blocking {
            let base = try rbd.pool.open(Self.base(of: snapshot.id))
            guard base.isProtected(snapshot.id) else {
                throw DiskError(.corrupt, "snapshot \(snapshot.id) is missing or not protected; it is not used")
            }
            try rbd.pool.clone(parent: Self.base(of: snapshot.id), snapshot: snapshot.id, to: id)
        }
        let disk = Disk(id: id, path: rbd.path(id), sizeGiB: snapshot.sizeGiB)
        do throws(DiskError) {
            if let sizeGiB, sizeGiB > snapshot.sizeGiB { return try await disks.grow(disk, to: sizeGiB) }
            try await rbd.map(id)
        } catch {
            await disks.remove(disk)
            throw error
        }
        return disk
    }

    /// Flattens the clones that still use the snapshot, then removes it and its base image.
    public func delete(id: String) {
        let base = Self.base(of: id)
        do {
            // Closed before the removal below: an open image cannot be removed.
            guard let image = try? rbd.pool.open(base) else { return }
            if image.hasSnapshot(id) {
                for child in (try? image.children(of: id)) ?? [] { try? rbd.pool.open(child).flatten() }
                try? image.removeSnapshot(id)
            }
        }
        rbd.unmap(base)
        _ = try? rbd.pool.remove(base)
    }

    /// The snapshots whose base this host made (the pool is shared: a snapshot another host made
    /// a moment ago, whose cache does not name it yet, is never taken for an orphan here).
    public func allSnapshotIDs() -> [String] {
        ((try? rbd.pool.images()) ?? []).compactMap { name in
            guard name.hasPrefix("disk-"), let image = try? rbd.pool.open(name), image.metadata(RBDDisks.nodeKey) == disks.node else {
                return nil
            }
            let id = Self.snapshotID(ofBase: name)
            return image.hasSnapshot(id) ? id : nil
        }
    }

    /// The checksum of `LocalSnapshotStore.checksum(of:)` over an RBD image: 4 MiB pieces
    /// hashed in parallel, a piece no extent touches taken as zeros without being read.
    static func checksum(of image: RBDImage) throws(DiskError) -> String {
        let size = try image.size()
        let pieceSize: UInt64 = 4 << 20
        let count = Int((size + pieceSize - 1) / pieceSize)
        var touched = Set<Int>()
        for extent in try image.allocatedExtents() where extent.length > 0 {
            for piece in Int(extent.offset / pieceSize)...Int((extent.offset + extent.length - 1) / pieceSize) { touched.insert(piece) }
        }
        let hashes = PieceHashes(count: count)
        let zeroPiece = Array(SHA256.hash(data: [UInt8](repeating: 0, count: Int(pieceSize))))
        let pieces = touched
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let start = UInt64(i) * pieceSize
            let length = Int(min(pieceSize, size - start))
            guard length == Int(pieceSize), !pieces.contains(i) else {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 4096)
                defer { buffer.deallocate() }
                var done = 0
                while done < length {
                    let n = image.read(at: start + UInt64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<length]))
                    guard n > 0 else { return hashes.set(i, nil) }
                    done += n
                }
                return hashes.set(i, Array(SHA256.hash(data: UnsafeRawBufferPointer(buffer))))
            }
            hashes.set(i, zeroPiece)
        }
        var hasher = SHA256()
        withUnsafeBytes(of: Int64(size).littleEndian) { hasher.update(bufferPointer: $0) }
        for i in 0..<count {
            guard let h = hashes.get(i) else { throw DiskError(.io, "cannot read \(image.name) at \(UInt64(i) * pieceSize)") }
            hasher.update(data: h)
        }
        return Hex.encode(hasher.finalize())
    }
}

import CIMCSys
import Crypto
import Foundation
import IMCCache
import IMCModel
import IMCOS

/// An immutable snapshot of a disk, with the checksum of its data.
public struct Snapshot: Sendable, Equatable {
    /// `snap-xxxxxxxx`.
    public var id: String
    public var sizeGiB: Int
    /// SHA-256 of the image's bytes (see `LocalSnapshotStore.checksum(of:)`); nil until it has
    /// been taken, which happens after the snapshot is sealed, off the build's critical path.
    public var checksum: String?

    public init(id: String, sizeGiB: Int, checksum: String?) {
        self.id = id
        self.sizeGiB = sizeGiB
        self.checksum = checksum
    }
}

/// Where snapshots live.
///
/// Contract: `create` returns only once the snapshot is complete, durable and sealed (nothing
/// can change it without the seal showing it); `takeChecksum` records the checksum of its bytes
/// later and refuses if the seal broke in between; snapshots never change afterwards;
/// `makeDisk` checks the snapshot first (its seal, or every byte against the checksum when the
/// seal is broken) and refuses one whose data changed or cannot be vouched for; `delete` is
/// idempotent.
public protocol SnapshotStore: Sendable {
    func create(from disk: Disk) async throws(DiskError) -> Snapshot
    func takeChecksum(id: String) async throws(DiskError) -> String
    func makeDisk(from snapshot: Snapshot, sizeGiB: Int?) async throws(DiskError) -> Disk
    func verify(_ snapshot: Snapshot) async throws(DiskError)
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

    public func create(from disk: Disk) async throws(DiskError) -> Snapshot {
        let id = ids.next(prefix: "snap")
        let target = path(id)
        // A clone takes no space; a copy (a pool that cannot clone) takes the disk's written bytes.
        try disks.pool.checkFreeSpace(for: "a snapshot of disk \(disk.id)", bytes: disks.pool.clones ? 0 : FileSize.allocated(disk.path))
        try await disks.pool.copy(disk.path, to: target)
        do throws(DiskError) {
            try await blocking {
                chmod(target, 0o444)
                let seal = try Seal.apply(to: target)
                try AtomicFile.write("- \(disk.sizeGiB)\n\(seal.line)\n", to: target + ".sum")
            }
            return Snapshot(id: id, sizeGiB: disk.sizeGiB, checksum: nil)
        } catch {
            delete(id: id)
            throw error
        }
    }

    /// The recorded checksum ("-" until taken) and seal of a snapshot.
    func record(_ id: String) -> (checksum: String?, seal: Seal?) {
        guard let text = try? String(contentsOfFile: path(id) + ".sum", encoding: .utf8) else { return (nil, nil) }
        let lines = text.split(separator: "\n")
        let sum = lines.first?.split(separator: " ").first.map(String.init)
        return (sum == "-" ? nil : sum, lines.count > 1 ? Seal(line: String(lines[1])) : nil)
    }

    /// Whether the snapshot's file is still exactly what was sealed.
    func sealHolds(_ id: String) -> Bool {
        guard let recorded = record(id).seal, let current = try? Seal.read(path(id)) else { return false }
        return recorded == current && current.immutable
    }

    /// Hashes the snapshot's bytes and records the checksum beside its seal. Refused when the
    /// seal broke since the snapshot was made: its bytes can no longer be vouched for.
    public func takeChecksum(id: String) async throws(DiskError) -> String {
        try await blocking { try self.takeChecksumNow(id: id) }
    }

    func takeChecksumNow(id: String) throws(DiskError) -> String {
        let (recorded, seal) = record(id)
        if let recorded { return recorded }
        guard let seal, sealHolds(id) else {
            throw DiskError(.corrupt, "snapshot \(id) changed after it was sealed and before its checksum was taken; it is not used")
        }
        let checksum = try Self.checksum(of: path(id))
        guard sealHolds(id) else { throw DiskError(.corrupt, "snapshot \(id) changed while its checksum was taken; it is not used") }
        let size =
            (try? String(contentsOfFile: path(id) + ".sum", encoding: .utf8))?.split(separator: "\n").first?.split(separator: " ")
            .last.map(String.init) ?? "0"
        do { try AtomicFile.write("\(checksum) \(size)\n\(seal.line)\n", to: path(id) + ".sum") } catch { throw DiskError(error) }
        return checksum
    }

    /// Hashes every byte of the snapshot against its checksum.
    public func verify(_ snapshot: Snapshot) async throws(DiskError) {
        try await blocking { try self.verifyNow(snapshot) }
    }

    func verifyNow(_ snapshot: Snapshot) throws(DiskError) {
        guard let expected = snapshot.checksum ?? record(snapshot.id).checksum else {
            throw DiskError(.corrupt, "snapshot \(snapshot.id) has no checksum to verify against; it is not used")
        }
        let actual = try Self.checksum(of: path(snapshot.id))
        guard actual == expected else {
            throw DiskError(
                .corrupt, "snapshot \(snapshot.id) does not match its checksum (\(actual) instead of \(expected)); it is not used")
        }
    }

    /// Checks a snapshot before a disk is made from it: when its seal holds (the file is still
    /// the immutable inode that was sealed when it was made, untouched since: a write, a
    /// `chattr -i` or a replacement all change what the seal records), its bytes are those of
    /// the build; otherwise every byte is hashed against the checksum (and without a checksum,
    /// it is refused).
    public func check(_ snapshot: Snapshot) async throws(DiskError) {
        let recorded = record(snapshot.id).checksum
        if sealHolds(snapshot.id), snapshot.checksum == nil || recorded == nil || recorded == snapshot.checksum { return }
        try await verify(snapshot)
    }

    public func makeDisk(from snapshot: Snapshot, sizeGiB: Int? = nil) async throws(DiskError) -> Disk {
        try await check(snapshot)
        try disks.pool.checkFreeSpace(for: "a disk from snapshot \(snapshot.id)")
        let disk = disks.disk(id: ids.next(prefix: "disk"), sizeGiB: snapshot.sizeGiB)
        try await disks.pool.copy(path(snapshot.id), to: disk.path)
        chmod(disk.path, 0o600)
        if let sizeGiB, sizeGiB > snapshot.sizeGiB {
            do throws(DiskError) { return try await disks.grow(disk, to: sizeGiB) } catch {
                await disks.remove(disk)
                throw error
            }
        }
        return disk
    }

    public func delete(id: String) {
        Seal.release(path(id))
        unlink(path(id))
        unlink(path(id) + ".sum")
    }

    public func allSnapshotIDs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: disks.pool.root + "/snapshots")) ?? [])
            .filter { $0.hasSuffix(".img") }.map { String($0.dropLast(4)) }
    }

    /// SHA-256 over the image's bytes, independent of how they are laid out on the device: the
    /// file is cut into 4 MiB pieces, hashed on every core at once (holes read as zeros, and a
    /// piece that is all hole is not read at all), and the result is the SHA-256 of the file's
    /// size and the pieces' hashes in order. A clone and its source agree even when their
    /// extent maps differ.
    public static func checksum(of path: String) throws(DiskError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DiskError(OSError.system("cannot open \(path)")) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DiskError(OSError.system("cannot stat \(path)")) }
        let size = Int64(st.st_size)
        let pieceSize: Int64 = 4 << 20
        let count = Int((size + pieceSize - 1) / pieceSize)
        let hashes = PieceHashes(count: count)
        let zeroPiece = Array(SHA256.hash(data: [UInt8](repeating: 0, count: Int(pieceSize))))
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let start = Int64(i) * pieceSize
            let length = min(pieceSize, size - start)
            let data = imc_seek_data(fd, start)
            if length == pieceSize && (data < 0 || data >= start + length) {
                hashes.set(i, zeroPiece)  // all hole
            } else {
                hashes.set(i, Self.hash(fd: fd, offset: start, length: length))
            }
        }
        var hasher = SHA256()
        withUnsafeBytes(of: size.littleEndian) { hasher.update(bufferPointer: $0) }
        for i in 0..<count {
            guard let h = hashes.get(i) else { throw DiskError(.io, "cannot read \(path) at \(Int64(i) * pieceSize)") }
            hasher.update(data: h)
        }
        return Hex.encode(hasher.finalize())
    }

    static func hash(fd: Int32, offset: Int64, length: Int64) -> [UInt8]? {
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var position = offset
        while position < offset + length {
            let n = pread(fd, buffer.baseAddress, min(buffer.count, Int(offset + length - position)), off_t(position))
            guard n > 0 else { return nil }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += Int64(n)
        }
        return Array(hasher.finalize())
    }
}

/// What makes a snapshot file provably unchanged since its checksum was taken: its inode, size
/// and ctime (which no write, attribute change or rename-over can leave alone, and which
/// userspace cannot set back), with the immutable attribute set so that nothing writes to it in
/// the first place.
struct Seal: Equatable {
    var inode: UInt64
    var size: Int64
    var ctimeSeconds: Int
    var ctimeNanoseconds: Int
    var immutable: Bool

    var line: String { "seal \(inode) \(size) \(ctimeSeconds) \(ctimeNanoseconds) \(immutable ? 1 : 0)" }

    init?(line: String) {
        let f = line.split(separator: " ")
        guard f.count == 6, f[0] == "seal", let i = UInt64(f[1]), let s = Int64(f[2]), let cs = Int(f[3]), let cn = Int(f[4]) else {
            return nil
        }
        self.init(inode: i, size: s, ctimeSeconds: cs, ctimeNanoseconds: cn, immutable: f[5] == "1")
    }

    init(inode: UInt64, size: Int64, ctimeSeconds: Int, ctimeNanoseconds: Int, immutable: Bool) {
        self.inode = inode
        self.size = size
        self.ctimeSeconds = ctimeSeconds
        self.ctimeNanoseconds = ctimeNanoseconds
        self.immutable = immutable
    }

    /// Syncs the file, makes it immutable (where the filesystem can), and reads its seal.
    static func apply(to path: String) throws(DiskError) -> Seal {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DiskError(OSError.system("cannot open \(path)")) }
        defer { close(fd) }
        fsync(fd)
        _ = imc_set_immutable(fd, 1)
        return try read(path)
    }

    static func read(_ path: String) throws(DiskError) -> Seal {
        var st = stat()
        guard stat(path, &st) == 0 else { throw DiskError(OSError.system("cannot stat \(path)")) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        var flags: Int32 = 0
        if fd >= 0 {
            flags = imc_get_flags(fd)
            close(fd)
        }
        return Seal(
            inode: UInt64(st.st_ino), size: Int64(st.st_size), ctimeSeconds: st.st_ctim.tv_sec, ctimeNanoseconds: st.st_ctim.tv_nsec,
            immutable: flags >= 0 && flags & 0x10 != 0)
    }

    /// Clears the immutable attribute so the file can be deleted.
    static func release(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return }
        _ = imc_set_immutable(fd, 0)
        close(fd)
    }
}

/// Per-piece hashes filled in by concurrent workers.
final class PieceHashes: @unchecked Sendable {
    private var hashes: [[UInt8]?]
    private let lock = NSLock()
    init(count: Int) { hashes = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ h: [UInt8]?) {
        lock.lock()
        hashes[i] = h
        lock.unlock()
    }
    func get(_ i: Int) -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        return hashes[i]
    }
}

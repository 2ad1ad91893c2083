import CIMCSys
import Foundation
import IMCOS

/// The filesystem that holds disk images and snapshots: one where a copy is a reflink clone,
/// so that a snapshot or a disk made from one costs no data copy. When the data root's own
/// filesystem clones (XFS with reflink, btrfs), it is used as it is; otherwise (this machine's
/// ext4) imc creates an XFS filesystem in a sparse file under the data root on first start and
/// loop-mounts it. Where neither works, copies fall back to sparse copies (`clones` is false).
public struct DiskPool: Sendable {
    /// The directory holding `disks/` and `snapshots/`.
    public let root: String
    /// Whether copies here are reflink clones.
    public let clones: Bool
    /// Whether the pool is imc's own XFS file, mounted by imc (by this start or one before it that
    /// crashed): a clean stop unmounts it.
    public let ownsMount: Bool
    /// The filesystems whose free space a new or grown disk needs: the pool's, and (when the
    /// pool is a file in it) the data root's.
    public let filesystems: [String]
    /// Bytes that must stay free on each of `filesystems` after a disk is made or grown; below
    /// it, the operation is refused (a thin pool overcommits: this keeps the last space for
    /// the writes of disks that exist, the database and the logs).
    public var reserveBytes: Int64 = 2 << 30

    /// Prepares the pool under `dataRoot`, creating and mounting the XFS file if needed.
    public static func open(dataRoot: String, poolSizeGiB: Int64 = 4096) async throws(DiskError) -> DiskPool {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: dataRoot, withIntermediateDirectories: true) } catch {
            throw DiskError(.io, "cannot create \(dataRoot): \(error.localizedDescription)")
        }
        if canClone(in: dataRoot) {
            return try DiskPool(root: dataRoot + "/pool-direct", clones: true, ownsMount: false, filesystems: [dataRoot])
        }
        let image = dataRoot + "/pool.xfs"
        let mountPoint = dataRoot + "/pool"
        if !MountTable.isMountPoint(mountPoint) {
            if !fm.fileExists(atPath: image) {
                try makeSparseFile(image + ".new", bytes: poolSizeGiB << 30)
                do throws(DiskError) {
                    try await asDiskError { try await Command.check(["/usr/sbin/mkfs.xfs", "-q", "-m", "reflink=1", image + ".new"]) }
                } catch {
                    unlink(image + ".new")
                    throw error
                }
                guard rename(image + ".new", image) == 0 else { throw DiskError(OSError.system("cannot create \(image)")) }
            }
            try await asDiskError { try await Mount.loop(image: image, target: mountPoint, type: "xfs", options: ["nosuid", "nodev"]) }
        }
        return try DiskPool(root: mountPoint, clones: canClone(in: mountPoint), ownsMount: true, filesystems: [mountPoint, dataRoot])
    }

    init(root: String, clones: Bool, ownsMount: Bool = false, filesystems: [String]? = nil) throws(DiskError) {
        self.root = root
        self.clones = clones
        self.ownsMount = ownsMount
        self.filesystems = filesystems ?? [root]
        for d in ["disks", "snapshots"] {
            do { try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true) } catch {
                throw DiskError(.io, "cannot create \(root)/\(d): \(error.localizedDescription)")
            }
        }
    }

    /// Makes a sparse file of `bytes` bytes.
    static func makeSparseFile(_ path: String, bytes: Int64) throws(DiskError) {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DiskError(OSError.system("cannot create \(path)")) }
        defer { Glibc.close(fd) }
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            let e = OSError.system("cannot size \(path)")
            unlink(path)
            throw DiskError(e)
        }
    }

    /// Whether a reflink clone works in `directory`.
    static func canClone(in directory: String) -> Bool {
        let a = directory + "/.imc-clone-probe-a"
        let b = directory + "/.imc-clone-probe-b"
        defer {
            unlink(a)
            unlink(b)
        }
        let fa = Glibc.open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let fb = Glibc.open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            if fa >= 0 { Glibc.close(fa) }
            if fb >= 0 { Glibc.close(fb) }
        }
        guard fa >= 0, fb >= 0 else { return false }
        _ = "probe".withCString { Glibc.write(fa, $0, 5) }
        return imc_ficlone(fb, fa) == 0
    }

    /// Copies `source` to a new file `destination`: a reflink clone when the pool clones, a
    /// sparse copy otherwise. The destination appears only complete (written, then renamed).
    public func copy(_ source: String, to destination: String) async throws(DiskError) {
        let temporary = destination + ".partial"
        let cloned = try await blocking { () throws -> Bool in
            let src = Glibc.open(source, O_RDONLY | O_CLOEXEC)
            guard src >= 0 else { throw OSError.system("cannot open \(source)") }
            defer { Glibc.close(src) }
            let dst = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard dst >= 0 else { throw OSError.system("cannot create \(temporary)") }
            defer { Glibc.close(dst) }
            return imc_ficlone(dst, src) == 0
        }
        do throws(DiskError) {
            if !cloned {
                try await asDiskError { try await Command.check(["/usr/bin/cp", "--sparse=always", "--reflink=never", source, temporary]) }
            }
            guard rename(temporary, destination) == 0 else { throw DiskError(OSError.system("cannot rename \(temporary)")) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Refuses an operation that needs `bytes` more (0 for a sparse disk or a clone, which take
    /// space only as they are written) when a filesystem of the pool would be left with less than
    /// the reserve.
    public func checkFreeSpace(for what: String, bytes: Int64 = 0) throws(DiskError) {
        for filesystem in filesystems {
            guard let free = FreeSpace.bytes(at: filesystem) else { continue }
            if free - bytes < reserveBytes {
                throw DiskError(
                    .diskFull,
                    "not enough free space for \(what): \(filesystem) has \(Self.gib(free)) free and must keep \(Self.gib(reserveBytes)) in reserve"
                        + (bytes > 0 ? " after \(Self.gib(bytes)) more" : ""))
            }
        }
    }

    static func gib(_ bytes: Int64) -> String {
        bytes >= 1 << 30 ? String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) : "\(bytes >> 20) MiB"
    }

    /// Unmounts the pool's XFS file (a clean stop: the next start mounts it again, and an operator
    /// can remove the data root meanwhile).
    public func release() async throws(DiskError) {
        guard ownsMount else { return }
        try await blocking { try Mount.unmount(root) }
    }

    /// Unmounts the pool's XFS file, whoever mounted it (tests).
    public func unmountPool() throws(DiskError) {
        guard root.hasSuffix("/pool") else { return }
        do { try Mount.unmount(root) } catch { throw DiskError(error) }
    }
}

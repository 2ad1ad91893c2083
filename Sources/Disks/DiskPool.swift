import CIMCSys
import Foundation

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

    /// Prepares the pool under `dataRoot`, creating and mounting the XFS file if needed.
    public static func open(dataRoot: String, poolSizeGiB: Int64 = 4096) throws -> DiskPool {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        if canClone(in: dataRoot) { return try DiskPool(root: dataRoot + "/pool-direct", clones: true) }
        let image = dataRoot + "/pool.xfs"
        let mountPoint = dataRoot + "/pool"
        if !System.isMountPoint(mountPoint) {
            if !fm.fileExists(atPath: image) {
                try System.makeSparseFile(image + ".new", bytes: poolSizeGiB << 30)
                do {
                    try System.run(["/usr/sbin/mkfs.xfs", "-q", "-m", "reflink=1", image + ".new"])
                } catch {
                    unlink(image + ".new")
                    throw error
                }
                guard rename(image + ".new", image) == 0 else { throw DiskError(.io, "cannot create \(image)") }
            }
            try System.mountImage(image, at: mountPoint, options: "nosuid,nodev")
        }
        return try DiskPool(root: mountPoint, clones: canClone(in: mountPoint))
    }

    init(root: String, clones: Bool) throws {
        self.root = root
        self.clones = clones
        for d in ["disks", "snapshots"] {
            try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
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
            if fa >= 0 { close(fa) }
            if fb >= 0 { close(fb) }
        }
        guard fa >= 0, fb >= 0 else { return false }
        _ = "probe".withCString { write(fa, $0, 5) }
        return imc_ficlone(fb, fa) == 0
    }

    /// Copies `source` to a new file `destination`: a reflink clone when the pool clones, a
    /// sparse copy otherwise. The destination appears only complete (written, then renamed).
    public func copy(_ source: String, to destination: String) throws {
        let temporary = destination + ".partial"
        let src = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        guard src >= 0 else { throw DiskError(.notFound, "cannot open \(source): \(String(cString: strerror(errno)))") }
        defer { close(src) }
        let dst = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard dst >= 0 else { throw DiskError(.io, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            close(dst)
            if !ok { unlink(temporary) }
        }
        if imc_ficlone(dst, src) != 0 {
            try System.run(["/usr/bin/cp", "--sparse=always", "--reflink=never", source, temporary])
        }
        guard rename(temporary, destination) == 0 else { throw DiskError(.io, "cannot rename \(temporary)") }
        ok = true
    }
}

extension DiskPool {
    /// Unmounts the pool's XFS file, if imc mounted one (tests; the service keeps it mounted).
    public func unmountPool() throws {
        if root.hasSuffix("/pool") { try System.unmount(root) }
    }
}

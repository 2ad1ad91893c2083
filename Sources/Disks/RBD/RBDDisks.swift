import Foundation
import IMCOS

/// Data disks as RBD images of a Ceph pool, reaching this host as files: each image in use here
/// is mapped by an `rbd-fuse` of its own (`-r IMAGE`), which shows it as one file, and a loop
/// device mounts that file as any disk image. This machine has no kernel rbd or nbd module;
/// where the kernel module exists, `rbd map` would give a block device instead.
///
/// A mapping is a client of the cluster that holds the image open (a watcher, and the
/// exclusive lock's owner while it writes): an image is removed only once it is unmapped on
/// every host, and a lost host's mapping is fenced by blocklisting that client.
public struct RBDDisks: Sendable {
    public let pool: RBDPool
    /// Where images are mapped: `<maps>/<image>/<image>`.
    public let maps: String

    /// Connects to the pool; images mapped by an earlier start stay mapped and are used again.
    public static func attach(configuration: String, pool: String = "rbd", maps: String) async throws(DiskError) -> RBDDisks {
        let rbd = try await blocking { () throws -> RBDPool in try RBDPool(configuration: configuration, pool: pool) }
        do { try FileManager.default.createDirectory(atPath: maps, withIntermediateDirectories: true) } catch {
            throw DiskError(.io, "cannot create \(maps): \(error.localizedDescription)")
        }
        return RBDDisks(pool: rbd, maps: maps)
    }

    /// The metadata of a snapshot's base image that names the imc host that made it.
    public static let nodeKey = "imc.node"

    /// The file of a mapped image.
    public func path(_ id: String) -> String { "\(maps)/\(id)/\(id)" }

    /// Maps `id` on this host (nothing when it is mapped already) and waits for its file.
    public func map(_ id: String) async throws(DiskError) {
        let directory = "\(maps)/\(id)"
        if MountTable.isMountPoint(directory) && FileManager.default.fileExists(atPath: path(id)) { return }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw DiskError(.io, "cannot create \(directory): \(error.localizedDescription)")
        }
        try await asDiskError {
            try await Command.check(["/usr/bin/rbd-fuse", "-c", pool.configuration, "-p", pool.pool, "-r", id, directory])
        }
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: path(id)) { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        unmap(id)
        throw DiskError(.notFound, "RBD image \(id) did not appear at \(path(id))")
    }

    /// Unmaps `id` here: its rbd-fuse ends and closes the image, everything it acknowledged
    /// written to the cluster. A loop device that is still letting go of the file (a disk just
    /// unmounted) is waited for, up to ten seconds; false when the mapping stayed.
    @discardableResult
    public func unmap(_ id: String) -> Bool {
        let directory = "\(maps)/\(id)"
        for _ in 0..<200 where MountTable.isMountPoint(directory) {
            do { try Mount.unmount(directory) } catch { usleep(50_000) }
        }
        guard !MountTable.isMountPoint(directory) else { return false }
        rmdir(directory)
        return true
    }

    /// Every image mapped here.
    public func mapped() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: maps)) ?? []).filter { MountTable.isMountPoint("\(maps)/\($0)") }
    }
}

import CIMCSys
import Foundation
import IMCOS

/// A container's root filesystem: an overlay of its image's layer directories (read-only,
/// shared by every container of the image) under a writable layer of its own.
public enum Overlay {
    /// Mounts `lower` (bottom layer first, as images list them) under `upper` at `target`,
    /// `nosuid,nodev`. `upper` and `work` are created; they must be on one filesystem. With
    /// `directory`, every path is relative to it and the mount is made from there, so that the
    /// mount table shows the relative names only (a container reading its mounts learns no host
    /// path). With `owner`, the writable layer's root belongs to that host id (the container's
    /// root in its user namespace). With `userXattrs`, the layers' opaque directories are marked
    /// with `user.overlay.opaque` (a cache disk built in a user namespace).
    public static func mount(
        lower: [String], upper: String, work: String, at target: String, in directory: String? = nil, owner: UInt32? = nil,
        userXattrs: Bool = false
    ) throws(RuntimeError) {
        guard !lower.isEmpty else { throw RuntimeError(.badSpec, "an overlay needs at least one layer") }
        func absolute(_ path: String) -> String { directory.map { "\($0)/\(path)" } ?? path }
        for dir in [upper, work, target] {
            do { try FileManager.default.createDirectory(atPath: absolute(dir), withIntermediateDirectories: true) } catch {
                throw RuntimeError(.io, "cannot create \(dir): \(error.localizedDescription)")
            }
        }
        if let owner { chown(absolute(upper), owner, owner) }
        for path in lower + [upper, work] where path.contains(",") || path.contains(":") {
            throw RuntimeError(.badSpec, "overlay path \(path) contains a comma or colon")
        }
        let overlay = Mount.overlay(lower: lower, upper: upper, work: work, target: target, userXattrs: userXattrs)
        guard overlay.data.utf8.count < 4000 else {
            throw RuntimeError(.badSpec, "the image has too many layers (\(lower.count)) for one overlay mount's options")
        }
        do {
            if let directory { try overlay.mount(from: directory) } else { try overlay.mount() }
        } catch { throw RuntimeError(.io, error.message, cause: error) }
    }

    /// Reads a file of the container's root filesystem without following its symlinks out of
    /// it (an image's `/etc/passwd` may be a link to the host's files).
    public static func readFile(_ path: String, inRoot root: String, maxBytes: Int = 1 << 20) -> String? {
        let dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return nil }
        defer { close(dir) }
        let fd = imc_open_in_root(dir, path, O_RDONLY, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) <= maxBytes else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return String(decoding: bytes.prefix(n), as: UTF8.self)
    }

    /// Unmounts `target`, detaching it if it is busy; a target that is not mounted is fine.
    public static func unmount(_ target: String) {
        try? Mount.unmount(target, detach: true)
    }
}

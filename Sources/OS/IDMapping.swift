import CIMCSys
import Foundation
import Glibc

/// A range of host user and group ids given to one instance: ids 0..<count inside its user
/// namespace are `base`..<`base + count` on the host. No two instances share a range while
/// either exists, so one tenant's root is no other tenant's anything.
public struct IDRange: Sendable, Equatable, Codable {
    public var base: UInt32
    public var count: UInt32

    public init(base: UInt32, count: UInt32 = 65536) {
        self.base = base
        self.count = count
    }

    /// The host id of `id` inside the range.
    public func host(_ id: UInt32) -> UInt32 { base + min(id, count - 1) }
}

/// A user namespace with an id range's mapping, held open as a file descriptor: what an
/// idmapped mount is made with.
public final class UserNamespace: Sendable {
    public let fd: Int32
    public let range: IDRange

    /// Makes the namespace (a child process creates it, its maps are written, it exits; the
    /// namespace lives on in `fd`).
    public init(range: IDRange) throws(OSError) {
        let fd = imc_userns_fd(range.base, range.count)
        guard fd >= 0 else { throw .system("cannot make a user namespace for ids \(range.base)+\(range.count)") }
        self.fd = fd
        self.range = range
    }

    deinit { close(fd) }

    /// Binds the namespace to the file `path` (made if missing), so that a runtime can join it by
    /// path; it stays while the bind does (unmount it to let it go).
    public func bind(at path: String) throws(OSError) {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard imc_mount("/proc/self/fd/\(fd)", path, nil, UInt(MS_BIND), nil) == 0 else {
            throw .system("cannot bind the user namespace at \(path)")
        }
    }
}

extension Mount {
    /// Mounts the directory `source` at `target` idmapped through `namespace`: a file owned by
    /// id N on disk shows as owned by the namespace's host id for N (`nosuid,nodev`). Nothing on
    /// disk changes (no chown), and the same layers serve instances of different ranges.
    public static func idmapped(_ source: String, at target: String, through namespace: UserNamespace) throws(OSError) {
        guard imc_mount_idmapped(source, target, namespace.fd) == 0 else { throw .system("cannot mount \(source) idmapped at \(target)") }
    }

    /// Mounts from within `directory`, so that relative paths in `data` are resolved there and
    /// kept as given in the mount table (an overlay mounted so shows no host path inside a
    /// container).
    public func mount(from directory: String) throws(OSError) {
        guard imc_mount_in(directory, source, target, type, flags.rawValue, data) == 0 else {
            throw .system("cannot mount \(type) at \(target)")
        }
    }
}

import CIMCSys
import Glibc

/// Applies one layer's tar stream to an empty directory so that the directory is an overlayfs
/// layer: OCI whiteouts (`.wh.NAME`) become overlay whiteouts (0:0 character devices) and opaque
/// markers (`.wh..wh..opq`) become `trusted.overlay.opaque=y` on their directory.
///
/// Every path is resolved with `openat2(RESOLVE_IN_ROOT)` from the layer's root, so no entry can
/// write outside it, whatever symlinks, `..` or absolute names the archive holds; an entry whose
/// name climbs out of the root fails the layer rather than being skipped.
public final class LayerExtractor {
    /// What an extraction did.
    public struct Stats: Sendable {
        public var entries = 0
        public var files = 0
        public var bytes: Int64 = 0
        public var whiteouts = 0
        public var ignoredXattrs = 0
        /// Device nodes a user namespace may not make (a build sandbox's): skipped, as rootless
        /// Docker and Podman skip them. A container's /dev is the runtime's anyway.
        public var skippedDevices = 0
    }

    private let rootFD: Int32
    private let limits: UnpackLimits
    private var cachedParentPath: String?
    private var cachedParentFD: Int32 = -1
    private var directoryTimes: [(String, Int64)] = []
    private let copyBuffer: UnsafeMutableRawBufferPointer
    public private(set) var stats = Stats()

    /// Opens `root`, which must be an existing directory (normally a new, empty one).
    public init(root: String, limits: UnpackLimits = UnpackLimits()) throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.ioError("open layer root \(root)") }
        rootFD = fd
        self.limits = limits
        copyBuffer = .allocate(byteCount: 1 << 16, alignment: 64)
    }

    deinit {
        if cachedParentFD >= 0 { close(cachedParentFD) }
        close(rootFD)
        copyBuffer.deallocate()
    }

    /// Reads every entry of `reader` and applies it. Directory times are set at the end and the
    /// filesystem is synced once, which keeps the layer crash-safe without an fsync per file.
    public func apply(_ reader: TarReader) throws {
        while let entry = try reader.next() {
            stats.entries += 1
            try apply(entry, reader)
        }
        for (path, mtime) in directoryTimes.reversed() {
            var times = [timespec(tv_sec: Int(mtime), tv_nsec: 0), timespec(tv_sec: Int(mtime), tv_nsec: 0)]
            if path.isEmpty {
                futimens(rootFD, &times)
            } else {
                let fd = imc_open_in_root(rootFD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)
                if fd >= 0 {
                    futimens(fd, &times)
                    close(fd)
                }
            }
        }
        guard imc_syncfs(rootFD) == 0 else { throw Self.ioError("sync layer") }
    }

    /// Cleans a tar name into path components inside the root: a leading `/` or `./` is dropped
    /// (as tar does), `.` is ignored, and a `..` that would climb above the root is an error.
    public static func components(of name: String) throws -> [String] {
        var out: [String] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                guard !out.isEmpty else {
                    throw UnpackError(.pathEscape, "tar entry \"\(name.prefix(200))\" climbs out of the layer root")
                }
                out.removeLast()
                continue
            }
            guard !part.utf8.contains(0) else { throw UnpackError(.malformedArchive, "tar entry name contains NUL") }
            out.append(String(part))
        }
        return out
    }

    private func apply(_ entry: TarEntry, _ reader: TarReader) throws {
        let parts = try Self.components(of: entry.name)
        guard let base = parts.last else {
            // "./": the layer root itself, which only a directory entry may describe.
            guard entry.kind == .directory else {
                throw UnpackError(.pathEscape, "tar entry \"\(entry.name.prefix(200))\" would replace the layer root with a non-directory")
            }
            try setOwnerAndMode(rootFD, entry)
            directoryTimes.append(("", entry.mtime))
            return
        }
        let parentPath = parts.dropLast().joined(separator: "/")
        let path = parentPath.isEmpty ? base : parentPath + "/" + base
        if base.hasPrefix(".wh.") {
            try applyWhiteout(base, parentPath: parentPath, entryName: entry.name)
            return
        }
        let parent = try openParent(parentPath)
        switch entry.kind {
        case .directory:
            if mkdirat(parent, base, 0o700) != 0 {
                let e = errno
                guard e == EEXIST else { throw Self.ioError("mkdir \(path)", e) }
                var st = stat()
                if fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) != S_IFDIR {
                    try removeExisting(parent, base, path)
                    guard mkdirat(parent, base, 0o700) == 0 else { throw Self.ioError("mkdir \(path)") }
                }
            }
            let fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw Self.ioError("open \(path)") }
            defer { close(fd) }
            try setOwnerAndMode(fd, entry)
            try setXattrs(fd, entry, path)
            directoryTimes.append((path, entry.mtime))
        case .regular:
            var fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd < 0 && errno == EEXIST {
                try removeExisting(parent, base, path)
                fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            guard fd >= 0 else { throw Self.ioError("create \(path)") }
            defer { close(fd) }
            try reader.readContent { chunk in
                var off = 0
                while off < chunk.count {
                    let n = write(fd, chunk.baseAddress! + off, chunk.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw Self.ioError("write \(path)")
                    }
                    off += n
                }
            }
            try setOwnerAndMode(fd, entry)
            try setXattrs(fd, entry, path)
            var times = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
            futimens(fd, &times)
            stats.files += 1
            stats.bytes += entry.size
        case .symlink:
            if symlinkat(entry.linkName, parent, base) != 0 {
                guard errno == EEXIST else { throw Self.ioError("symlink \(path)") }
                try removeExisting(parent, base, path)
                guard symlinkat(entry.linkName, parent, base) == 0 else { throw Self.ioError("symlink \(path)") }
            }
            guard fchownat(parent, base, uid_t(entry.uid), gid_t(entry.gid), AT_SYMLINK_NOFOLLOW) == 0 else {
                throw Self.ioError("chown \(path)")
            }
            var times = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
            utimensat(parent, base, &times, AT_SYMLINK_NOFOLLOW)
        case .hardlink:
            let target = try Self.components(of: entry.linkName).joined(separator: "/")
            guard !target.isEmpty else {
                throw UnpackError(.badHardlink, "hardlink \"\(path)\" points at the layer root")
            }
            let targetFD = imc_open_in_root(rootFD, target, IMC_O_PATH | O_NOFOLLOW, 0)
            guard targetFD >= 0 else {
                throw UnpackError(
                    .badHardlink, "hardlink \"\(path)\" points at \"\(entry.linkName.prefix(200))\", which is not in this layer")
            }
            defer { close(targetFD) }
            var st = stat()
            guard fstat(targetFD, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else {
                throw UnpackError(.badHardlink, "hardlink \"\(path)\" points at a directory")
            }
            if imc_link_fd(targetFD, parent, base) != 0 {
                guard errno == EEXIST else { throw Self.ioError("link \(path)") }
                var existing = stat()
                if fstatat(parent, base, &existing, AT_SYMLINK_NOFOLLOW) == 0 && existing.st_ino == st.st_ino
                    && existing.st_dev == st.st_dev
                {
                    return  // already that very file
                }
                try removeExisting(parent, base, path)
                guard imc_link_fd(targetFD, parent, base) == 0 else { throw Self.ioError("link \(path)") }
            }
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : (entry.kind == .characterDevice ? S_IFCHR : S_IFBLK)
            let dev = entry.kind == .fifo ? 0 : imc_makedev(entry.devMajor, entry.devMinor)
            if mknodat(parent, base, type | 0o600, dev_t(dev)) != 0 {
                if errno == EPERM && entry.kind != .fifo {
                    stats.skippedDevices += 1
                    return
                }
                guard errno == EEXIST else { throw Self.ioError("mknod \(path)") }
                try removeExisting(parent, base, path)
                guard mknodat(parent, base, type | 0o600, dev_t(dev)) == 0 else { throw Self.ioError("mknod \(path)") }
            }
            guard fchownat(parent, base, uid_t(entry.uid), gid_t(entry.gid), AT_SYMLINK_NOFOLLOW) == 0,
                fchmodat(parent, base, mode_t(entry.mode), 0) == 0
            else { throw Self.ioError("chown/chmod \(path)") }
        }
    }

    private func applyWhiteout(_ base: String, parentPath: String, entryName: String) throws {
        if base == ".wh..wh..opq" {
            let parent = try openParent(parentPath)
            let dir = parentPath.isEmpty ? fcntl(rootFD, F_DUPFD_CLOEXEC, 0) : openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { throw Self.ioError("open \(parentPath)") }
            defer { close(dir) }
            // Both namespaces overlayfs reads: `user.` (mounted with `userxattr`, the only one a
            // build in a user namespace can write) and, where permitted, `trusted.`.
            guard imc_fsetxattr(dir, "user.overlay.opaque", "y", 1) == 0 else {
                throw Self.ioError("mark \(parentPath.isEmpty ? "/" : parentPath) opaque")
            }
            if imc_fsetxattr(dir, "trusted.overlay.opaque", "y", 1) != 0 && errno != EPERM {
                throw Self.ioError("mark \(parentPath.isEmpty ? "/" : parentPath) opaque")
            }
            stats.whiteouts += 1
            return
        }
        if base.hasPrefix(".wh..wh.") { return }  // AUFS bookkeeping (.wh..wh.plnk, ...): not content
        let name = String(base.dropFirst(4))
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
            throw UnpackError(.malformedWhiteout, "malformed whiteout \"\(entryName.prefix(200))\"")
        }
        let parent = try openParent(parentPath)
        var st = stat()
        if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            return  // this layer's own entry: a whiteout only hides what lies below
        }
        guard mknodat(parent, name, S_IFCHR | 0o000, 0) == 0, fchownat(parent, name, 0, 0, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw Self.ioError("whiteout \(parentPath)/\(name)")
        }
        stats.whiteouts += 1
    }

    /// The directory `path` (relative to the root), created with 0755 where missing, resolved in root.
    private func openParent(_ path: String) throws -> Int32 {
        if path.isEmpty { return rootFD }
        if path == cachedParentPath { return cachedParentFD }
        var fd = imc_open_in_root(rootFD, path, O_RDONLY | O_DIRECTORY, 0)
        if fd < 0 && errno == ENOENT {
            try makeDirectories(path, depth: 0)
            fd = imc_open_in_root(rootFD, path, O_RDONLY | O_DIRECTORY, 0)
        }
        guard fd >= 0 else {
            let e = errno
            if e == ENOTDIR { throw UnpackError(.malformedArchive, "\"\(path.prefix(200))\" is used as a directory but is not one") }
            throw Self.ioError("open directory \(path)", e)
        }
        if cachedParentFD >= 0 { close(cachedParentFD) }
        cachedParentPath = path
        cachedParentFD = fd
        return fd
    }

    /// `mkdir -p` inside the root. A component that is a dangling symlink has its target made
    /// instead, resolved the way `RESOLVE_IN_ROOT` resolves it (absolute targets and `..` stay
    /// under the root), so that later opens through the link land inside the root.
    private func makeDirectories(_ path: String, depth: Int) throws {
        guard depth < 40 else { throw UnpackError(.malformedArchive, "too many levels of symbolic links under \"\(path.prefix(200))\"") }
        var prefix = ""
        for part in path.split(separator: "/").map(String.init) {
            let candidate = prefix.isEmpty ? part : prefix + "/" + part
            let existing = imc_open_in_root(rootFD, candidate, O_RDONLY | O_DIRECTORY, 0)
            if existing >= 0 {
                close(existing)
                prefix = candidate
                continue
            }
            guard errno == ENOENT else { throw Self.ioError("open directory \(candidate)") }
            let parent = prefix.isEmpty ? fcntl(rootFD, F_DUPFD_CLOEXEC, 0) : imc_open_in_root(rootFD, prefix, O_RDONLY | O_DIRECTORY, 0)
            guard parent >= 0 else { throw Self.ioError("open directory \(prefix)") }
            defer { close(parent) }
            if mkdirat(parent, part, 0o755) != 0 {
                guard errno == EEXIST else { throw Self.ioError("mkdir \(candidate)") }
                var target = [CChar](repeating: 0, count: 4097)
                let n = readlinkat(parent, part, &target, target.count - 1)
                guard n > 0 else { throw Self.ioError("open directory \(candidate)", ENOENT) }
                let link = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let resolved = link.hasPrefix("/") ? link : (prefix.isEmpty ? link : prefix + "/" + link)
                try makeDirectories(Self.clampedComponents(of: resolved).joined(separator: "/"), depth: depth + 1)
            }
            prefix = candidate
        }
    }

    /// Path components with `..` clamped at the root, as the kernel resolves them in a root.
    static func clampedComponents(of path: String) -> [String] {
        var out: [String] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." {
                if !out.isEmpty { out.removeLast() }
            } else {
                out.append(String(part))
            }
        }
        return out
    }

    private func removeExisting(_ parent: Int32, _ name: String, _ path: String) throws {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try removeTree(parent, name)
        } else if unlinkat(parent, name, 0) != 0 {
            throw Self.ioError("remove \(path)")
        }
        // A removed directory may be the cached parent, or an ancestor of it.
        if cachedParentFD >= 0 { close(cachedParentFD) }
        cachedParentFD = -1
        cachedParentPath = nil
    }

    private func removeTree(_ parent: Int32, _ name: String) throws {
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0, let dir = fdopendir(fd) else { throw Self.ioError("open \(name)") }
        var children: [String] = []
        while let ent = readdir(dir) {
            let child = withUnsafeBytes(of: ent.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if child != "." && child != ".." { children.append(child) }
        }
        defer { closedir(dir) }
        for child in children {
            var st = stat()
            guard fstatat(fd, child, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try removeTree(fd, child)
            } else if unlinkat(fd, child, 0) != 0 {
                throw Self.ioError("remove \(child)")
            }
        }
        guard unlinkat(parent, name, AT_REMOVEDIR) == 0 else { throw Self.ioError("remove directory \(name)") }
    }

    private func setOwnerAndMode(_ fd: Int32, _ entry: TarEntry) throws {
        // chown first: it clears setuid and setgid, which chmod then sets as the image says.
        guard fchown(fd, uid_t(entry.uid), gid_t(entry.gid)) == 0 else { throw Self.ioError("chown \(entry.name.prefix(200))") }
        guard fchmod(fd, mode_t(entry.mode)) == 0 else { throw Self.ioError("chmod \(entry.name.prefix(200))") }
    }

    /// Only `user.*` (not `user.overlay.*`, which overlayfs would obey) and `security.capability`
    /// are applied from an archive; `trusted.*` and the rest are dropped and counted.
    public static func isAllowedXattr(_ name: String) -> Bool {
        (name.hasPrefix("user.") && !name.hasPrefix("user.overlay.")) || name == "security.capability"
    }

    private func setXattrs(_ fd: Int32, _ entry: TarEntry, _ path: String) throws {
        for (name, value) in entry.xattrs {
            guard Self.isAllowedXattr(name) else {
                stats.ignoredXattrs += 1
                continue
            }
            let rc = value.withUnsafeBytes { imc_fsetxattr(fd, name, $0.baseAddress, $0.count) }
            guard rc == 0 else { throw Self.ioError("set xattr \(name) on \(path)") }
        }
    }

    static func ioError(_ what: String, _ code: Int32 = errno) -> UnpackError {
        UnpackError(code == ENOSPC || code == EDQUOT ? .diskFull : .io, "\(what.prefix(300)): \(String(cString: strerror(code)))")
    }
}

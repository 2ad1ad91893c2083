import CIMCSys
import Foundation

/// A mount: what is mounted (a filesystem type and source, with options) and where.
public struct Mount: Sendable, Equatable {
    /// mount(2) flags, by their Linux values.
    public struct Flags: OptionSet, Sendable, Equatable {
        public let rawValue: UInt
        public init(rawValue: UInt) { self.rawValue = rawValue }
        public static let readOnly = Flags(rawValue: 1)
        public static let noSetUID = Flags(rawValue: 2)
        public static let noDevices = Flags(rawValue: 4)
        public static let noExec = Flags(rawValue: 8)
        public static let bind = Flags(rawValue: 4096)
        public static let recursive = Flags(rawValue: 16384)
        public static let privatePropagation = Flags(rawValue: 1 << 18)
    }

    public var type: String
    public var source: String
    public var target: String
    public var flags: Flags
    /// The filesystem's own options (mount(2)'s data).
    public var data: String

    public init(type: String, source: String, target: String, flags: Flags = [], data: String = "") {
        self.type = type
        self.source = source
        self.target = target
        self.flags = flags
        self.data = data
    }

    /// An overlay of `lower` (bottom layer first, as images list them) under `upper`, at
    /// `target`, `nosuid,nodev`.
    /// With `userXattrs`, overlayfs reads its markers from `user.overlay.*` (`userxattr`).
    public static func overlay(lower: [String], upper: String, work: String, target: String, userXattrs: Bool = false) -> Mount {
        // Overlay lists the top layer first.
        Mount(
            type: "overlay", source: "overlay", target: target, flags: [.noSetUID, .noDevices],
            data: "lowerdir=\(lower.reversed().joined(separator: ":")),upperdir=\(upper),workdir=\(work),index=off"
                + (userXattrs ? ",userxattr" : ""))
    }

    /// Mounts it (the target must exist).
    public func mount() throws(OSError) {
        guard imc_mount(source, target, type, flags.rawValue, data) == 0 else { throw .system("cannot mount \(type) at \(target)") }
    }

    /// Unmounts `target`; with `detach`, lazily when it is busy. A target that is not mounted is
    /// not an error.
    /// A filesystem that is briefly busy (a child forked by another thread holds copies of this
    /// process's descriptors until it execs or exits) is tried again for up to 2 s.
    public static func unmount(_ target: String, detach: Bool = false) throws(OSError) {
        var first: Int32 = 0
        for attempt in 0..<40 {
            if imc_umount(target, 0) == 0 { return }
            first = errno
            if first == EINVAL || first == ENOENT { return }
            guard first == EBUSY, !detach else { break }
            if attempt < 39 { usleep(50_000) }
        }
        if detach, first == EBUSY, imc_umount(target, 1) == 0 { return }
        throw .system("cannot unmount \(target)", first)
    }

    /// Mounts the filesystem (`type`) in the image file `image` at `target` through a loop
    /// device, attached with the loop ioctls (no `mount` or `losetup` process on the path of an
    /// instance's start) and detached when unmounted. With `directIO` the loop device writes the
    /// image with direct I/O, so that its pages are not cached twice (once for the filesystem in
    /// it, once for the file); a backing filesystem without O_DIRECT keeps buffered I/O.
    /// `options`: `nosuid`, `nodev`, `ro` as flags, anything else as the filesystem's data.
    public static func loop(image: String, target: String, type: String = "ext4", options: [String], directIO: Bool = false)
        async throws(OSError)
    {
        do { try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true) } catch {
            throw OSError(.io, "cannot create \(target): \(error.localizedDescription)")
        }
        var flags: Flags = []
        var data: [String] = []
        for option in options {
            switch option {
            case "nosuid": flags.insert(.noSetUID)
            case "nodev": flags.insert(.noDevices)
            case "ro": flags.insert(.readOnly)
            default: data.append(option)
            }
        }
        let (mountFlags, mountData) = (flags, data.joined(separator: ","))
        do {
            try await BlockingPool.shared.run {
                // Direct I/O gives the loop device its backing disk's sector size; a filesystem of
                // smaller blocks does not mount on it (EINVAL), and is mounted buffered instead.
                for direct in directIO ? [true, false] : [false] {
                    var device = [CChar](repeating: 0, count: 64)
                    let fd = imc_loop_attach(image, direct ? 1 : 0, &device, UInt(device.count))
                    guard fd >= 0 else { throw OSError.system("cannot attach \(image) to a loop device") }
                    defer { close(fd) }
                    let path = String(cString: device)
                    if imc_mount(path, target, type, mountFlags.rawValue, mountData.isEmpty ? nil : mountData) == 0 { return }
                    if direct && errno == EINVAL { continue }
                    throw OSError.system("cannot mount \(image) (\(path), \(type)) at \(target)")
                }
            }
        } catch let error as OSError {
            throw error
        } catch {
            throw OSError(.io, "\(error)")
        }
    }

    /// Unmounts everything under `directory`, deepest first (overlays before the disk they sit
    /// on); what cannot be unmounted is detached.
    public static func unmountAll(under directory: String) {
        for target in MountTable.targets(under: directory).sorted(by: { $0.count > $1.count }) {
            try? unmount(target, detach: true)
        }
    }
}

/// This process's mount table. Read in full with `read(2)` until the end: Foundation's
/// `String(contentsOfFile:)` stops after the first page of a /proc file, which silently hid the
/// newest mounts once there were more than a few dozen.
public enum MountTable {
    public struct Entry: Sendable, Equatable {
        public var target: String
        public var source: String
        public var type: String
    }

    public static func entries() -> [Entry] {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count > 4 else { return nil }
            var source = ""
            var type = ""
            if let dash = f.firstIndex(of: "-"), dash + 2 < f.count {
                type = String(f[dash + 1])
                source = String(f[dash + 2])
            }
            return Entry(target: unescape(f[4]), source: source, type: type)
        }
    }

    /// Mount targets strictly under `directory`.
    public static func targets(under directory: String) -> [String] {
        let prefix = URL(fileURLWithPath: directory).standardizedFileURL.path + "/"
        return entries().map(\.target).filter { $0.hasPrefix(prefix) }
    }

    public static func isMountPoint(_ path: String) -> Bool {
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        return entries().contains { $0.target == target }
    }

    /// What is mounted at `path` (the last mount there).
    public static func source(of path: String) -> String? {
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        return entries().last { $0.target == target }?.source
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var out = ""
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == "\\", let end = field.index(i, offsetBy: 4, limitedBy: field.endIndex),
                let code = UInt8(field[field.index(after: i)..<end], radix: 8)
            {
                out.append(Character(UnicodeScalar(code)))
                i = end
            } else {
                out.append(field[i])
                i = field.index(after: i)
            }
        }
        return out
    }
}

import Foundation

/// Runs the system tools disks need (mkfs, mount, umount, resize2fs) and reads mount state.
enum System {
    /// Runs `argv`; throws with its standard error when it fails. Standard output is discarded,
    /// so only one pipe is read and a chatty tool cannot fill the other and hang.
    static func run(_ argv: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        do { try p.run() } catch { throw DiskError(.command, "cannot run \(argv[0]): \(error)") }
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let message = String(decoding: e, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw DiskError(.command, "\(argv.joined(separator: " ")) failed (\(p.terminationStatus)): \(message.prefix(500))")
        }
    }

    /// Whether something is mounted at `path`.
    static func isMountPoint(_ path: String) -> Bool { MountTable.isMountPoint(path) }

    /// Mounts an image file with a loop device (autoclear: detached when unmounted). With
    /// `directIO` the loop device writes to the image file with direct I/O, so that pages are
    /// not cached twice (once for the disk's filesystem, once for the image file).
    static func mountImage(_ image: String, at target: String, options: String, directIO: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try run(["/usr/bin/mount", "-o", "loop," + options, image, target])
        if directIO, let device = mountSource(target), device.hasPrefix("/dev/loop") {
            // Best effort: a backing filesystem without O_DIRECT keeps buffered I/O.
            try? run(["/usr/sbin/losetup", "--direct-io=on", device])
        }
    }

    /// The device mounted at `path`.
    static func mountSource(_ path: String) -> String? { MountTable.source(of: path) }

    /// Unmounts `target` (its loop device is released with it).
    static func unmount(_ target: String) throws {
        guard isMountPoint(target) else { return }
        try run(["/usr/bin/umount", target])
    }

    /// Makes a sparse file of `bytes` bytes.
    static func makeSparseFile(_ path: String, bytes: Int64) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DiskError(.io, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            unlink(path)
            throw DiskError(.io, "cannot size \(path): \(String(cString: strerror(errno)))")
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
            if let dash = f.firstIndex(of: "-"), dash + 2 < f.count { source = String(f[dash + 2]) }
            return Entry(target: unescape(f[4]), source: source)
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

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
    static func isMountPoint(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        return text.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].replacingOccurrences(of: "\\040", with: " ") == target
        }
    }

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
    static func mountSource(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[4] == target, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { continue }
            return String(fields[dash + 2])
        }
        return nil
    }

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

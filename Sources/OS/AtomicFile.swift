import Glibc

/// Files that appear whole or not at all: written to a temporary name beside the destination,
/// flushed to the disk, then renamed over it, so that a crash leaves the old content or the new,
/// never a mixture.
public enum AtomicFile {
    /// Writes `bytes` to `path` (mode `mode`); with `sync`, the data reaches the disk before the
    /// rename, and the rename before this returns.
    public static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o644, sync: Bool = true) throws(OSError) {
        let temporary = path + ".tmp-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .system("cannot create \(temporary)") }
        var failure: OSError?
        let data = Array(bytes)
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .system("cannot write \(path)")
                    return
                }
                offset += n
            }
        }
        if failure == nil, sync, fsync(fd) != 0 { failure = .system("cannot flush \(path)") }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = .system("cannot rename \(temporary) to \(path)") }
        if let failure {
            unlink(temporary)
            throw failure
        }
        if sync { syncDirectory(of: path) }
    }

    /// Writes `text` as UTF-8.
    public static func write(_ text: String, to path: String, mode: mode_t = 0o644, sync: Bool = true) throws(OSError) {
        try write(Array(text.utf8), to: path, mode: mode, sync: sync)
    }

    /// Flushes the directory holding `path`, so that a rename in it is durable.
    public static func syncDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

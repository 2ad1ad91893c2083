import Glibc

/// Free space of filesystems.
public enum FreeSpace {
    /// Bytes an unprivileged writer can still use on the filesystem holding `path` (nil when it
    /// cannot be read).
    public static func bytes(at path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}

/// Sizes of files as the filesystem holds them.
public enum FileSize {
    /// Bytes the file takes on its filesystem (a sparse file's holes take none); 0 when it
    /// cannot be read.
    public static func allocated(_ path: String) -> Int64 {
        var s = stat()
        guard stat(path, &s) == 0 else { return 0 }
        return Int64(s.st_blocks) * 512
    }
}

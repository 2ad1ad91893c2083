import Foundation

/// Images that really run: Debian's static busybox (a shell and the usual tools) in the bottom
/// layer, an application layer above it. Made from code, like every test image.
public enum RunnableImages {
    /// The busybox layer: `/bin/busybox`, its applets as symlinks, and the directories a
    /// container's runtime mounts over.
    public static func busyboxLayer() throws -> TarBuilder {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/bin/busybox")))
        var t = TarBuilder()
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "data"] { t.directory(d, mode: d == "tmp" ? 0o1777 : 0o755) }
        t.add("bin/busybox", .file(bytes), mode: 0o755)
        for tool in [
            "sh", "echo", "cat", "sleep", "id", "ls", "touch", "date", "env", "true", "false", "head", "wc", "seq", "wget", "httpd", "nc",
        ] {
            t.symlink("bin/\(tool)", to: "busybox")
        }
        t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/data:/bin/sh\n")
        t.file("etc/group", "root:x:0:\napp:x:1000:\n")
        return t
    }

    /// A runnable image: busybox plus an application layer holding `files`, running `cmd`.
    public static func image(files: [String: String] = [:], cmd: [String] = ["/bin/sh", "-c", "echo hello"], padding: Int = 0) throws
        -> TestImage
    {
        var app = TarBuilder()
        app.directory("app")
        for (name, text) in files.sorted(by: { $0.key < $1.key }) { app.file(name, text) }
        if padding > 0 {
            // Incompressible bytes, eight at a time (one call per byte is slow in a debug build).
            var generator = SystemRandomNumberGenerator()
            var bytes = [UInt8](repeating: 0, count: padding)
            bytes.withUnsafeMutableBytes { raw in
                var i = 0
                while i + 8 <= raw.count {
                    raw.storeBytes(of: generator.next() as UInt64, toByteOffset: i, as: UInt64.self)
                    i += 8
                }
                while i < raw.count {
                    raw[i] = UInt8.random(in: 0...255, using: &generator)
                    i += 1
                }
            }
            app.add("app/padding", .file(bytes))
        }
        return try TestImage(layers: [try busyboxLayer(), app], cmd: cmd)
    }
}

import Foundation
import IMCCompression
import IMCRegistry

/// Conditions integration tests are gated on; CI has them all.
public enum Requirements {
    /// Running as root (mounts, device nodes, chown).
    public static var isRoot: Bool { getuid() == 0 }
    /// Root and Debian's docker-registry.
    public static var registryAndRoot: Bool { isRoot && DockerRegistry.isAvailable }
}

/// Layers that hold every kind of entry a layer can, with whiteouts and opaque directories
/// acting on lower layers: the tree the round-trip tests compare against.
public enum SampleLayers {
    public static func rich() -> [TarBuilder] {
        var base = TarBuilder()
        base.directory("etc")
        base.file("etc/hostname", "base\n")
        base.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        base.directory("usr/bin", mode: 0o755)
        base.file("usr/bin/tool", String(repeating: "binary", count: 5000), mode: 0o755)
        base.file("usr/bin/su", "setuid", mode: 0o4755)
        base.file("usr/bin/wall", "setgid", mode: 0o2755, gid: 5)
        base.hardlink("usr/bin/tool-link", to: "usr/bin/tool")
        base.symlink("bin", to: "usr/bin")
        base.directory("tmp", mode: 0o1777)
        base.directory("home/user", mode: 0o700, uid: 1000, gid: 1000)
        base.file("home/user/.profile", "export A=1\n", mode: 0o600, uid: 1000, gid: 1000)
        base.file(
            "usr/bin/ping", "ping", mode: 0o755,
            xattrs: [("security.capability", [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])])
        base.file(
            "data/labelled", "x",
            xattrs: [("user.comment", Array("hello".utf8)), ("trusted.evil", Array("no".utf8)), ("user.overlay.opaque", Array("y".utf8))])
        base.add("dev/null", .characterDevice(major: 1, minor: 3), mode: 0o666)
        base.add("dev/loop0", .blockDevice(major: 7, minor: 0), mode: 0o660)
        base.add("run/fifo", .fifo, mode: 0o644)
        base.directory("var/cache/apt")
        base.file("var/cache/apt/pkgcache.bin", "cache")
        base.file("var/cache/apt/srcpkgcache.bin", "cache2")
        base.file("opt/old/file", "old")
        base.file(String(repeating: "long-directory-name/", count: 8) + "file-with-a-long-name.txt", "long")
        base.symlink("long-link", to: String(repeating: "target/", count: 20) + "end")

        var middle = TarBuilder()
        middle.file("etc/hostname", "middle\n")
        middle.whiteout("etc/passwd")
        middle.opaque("var/cache/apt")
        middle.file("var/cache/apt/new.bin", "fresh")
        middle.whiteout("opt/old")
        middle.file("usr/bin/added", "added", mode: 0o700, uid: 2, gid: 3)

        var top = TarBuilder()
        top.file("etc/passwd", "root:x:0:0::/root:/bin/bash\n")
        top.file("etc/motd", "hello\n")
        top.whiteout("usr/bin/su")
        top.add("etc/hostname", .symlink("/proc/sys/kernel/hostname"))
        return [base, middle, top]
    }
}

/// Registry client options for tests: no real waiting between retries.
public enum RegistryClientOptionsForTests {
    public static var fast: RegistryClientOptions {
        var o = RegistryClientOptions()
        o.sleep = { _ in }
        return o
    }
}

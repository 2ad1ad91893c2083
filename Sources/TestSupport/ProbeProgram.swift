import Foundation
import Synchronization

/// The walls' probe (`Tests/Probe/probe.c`), a static program built once per test run with the
/// host's gcc, and an image that carries it: what a hostile tenant would run.
public enum ProbeProgram {
    /// The probe's sources, beside the tests: the walls' and the network's.
    static var sources: [String] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/Probe")
        return ["probe.c", "net.c"].map { directory.appendingPathComponent($0).path }
    }

    private static let built = Mutex<String?>(nil)

    /// The built probe (a static binary), compiled on first use.
    public static func path() throws -> String {
        try built.withLock { cached in
            if let cached { return cached }
            let out = "/tmp/imc-probe-\(getpid())"
            let result = try CommandRunner.capture("/usr/bin/gcc", ["-static", "-O1", "-Wall", "-o", out] + sources)
            guard result.status == 0 else { throw TestSupportError("cannot build the probe: \(result.stderr)") }
            cached = out
            return out
        }
    }

    /// A runnable image (busybox) with the probe at `/probe`.
    public static func image() throws -> TestImage {
        var layer = TarBuilder()
        layer.add("probe", .file(try [UInt8](Data(contentsOf: URL(fileURLWithPath: try path())))), mode: 0o755)
        return try TestImage(layers: [try RunnableImages.busyboxLayer(), layer], cmd: ["/probe", "walls"])
    }

    /// The probe's report: each wall and whether it held, with its detail.
    public static func report(_ output: String) -> [String: (held: Bool, detail: String)] {
        var out: [String: (Bool, String)] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[1] == "held" || parts[1] == "BROKEN" else { continue }
            out[String(parts[0])] = (parts[1] == "held", parts.count > 2 ? String(parts[2]) : "")
        }
        return out
    }

    /// Every wall the probe tries, in its order.
    public static let walls = [
        "user-namespace", "unshare-user-net", "unshare-mount", "add-key", "keyctl", "request-key", "bpf", "perf-event-open",
        "userfaultfd", "io-uring-setup", "mount", "kexec-load", "init-module", "ptrace", "mknod-block", "loop-backing-files",
        "powercap-masked", "host-paths", "cgroup-namespace", "no-new-privileges", "seccomp-filter", "no-sys-admin",
    ]
}

import Foundation
import Synchronization

/// A real one-node Ceph cluster (one monitor, one bluestore OSD on a file) from Debian's
/// packages, started by `scripts/ceph-single-node.sh` on a free port for the tests of this
/// process (about 11 s), stopped when the process ends (however it ends).
public final class CephCluster: Sendable {
    public let directory: String
    /// Its `ceph.conf`.
    public var configuration: String { directory + "/ceph.conf" }

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/ceph-osd") }

    private static let shared = Mutex<CephCluster?>(nil)

    /// The process's cluster, started on first call.
    public static func running() throws -> CephCluster {
        try shared.withLock { cluster in
            if let cluster { return cluster }
            let started = try start()
            cluster = started
            try whenThisProcessEnds(
                "\(script) stop \(started.directory); umount -l \(started.directory)/fuse-* 2>/dev/null; rm -rf \(started.directory)")
            return started
        }
    }

    private init(directory: String) { self.directory = directory }

    /// A cluster of its own (stop it with `stop()`).
    /// A cluster of its own (stop it with `stop()`); a start that fails (a port taken between
    /// its choice and its use) is tried again twice, from scratch.
    public static func start() throws -> CephCluster {
        var attempt = 0
        while true {
            let base = ProcessInfo.processInfo.environment["IMC_TEST_TMP"] ?? NSTemporaryDirectory()
            let directory = (base as NSString).appendingPathComponent("imc-ceph-\(UUID().uuidString.prefix(8))")
            let cluster = CephCluster(directory: directory)
            do {
                _ = try run(script, [directory, "\(try freePort())"])
                return cluster
            } catch {
                cluster.stop()  // what started before the failure
                attempt += 1
                if attempt == 3 { throw error }
            }
        }
    }

    /// `scripts/ceph-single-node.sh` of this checkout.
    static var script: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/scripts/ceph-single-node.sh"
    }

    public func stop() {
        _ = try? CommandRunner.capture(Self.script, ["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }
}

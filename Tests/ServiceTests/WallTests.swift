import Foundation
import IMCInstance
import IMCOS
import IMCRuntime
import IMCTestSupport
import Synchronization
import Testing

/// The walls around a tenant's containers, tried from inside as a hostile tenant would: the
/// probe (`Tests/Probe/probe.c`) runs in an instance of each runtime class, started from an image
/// cache, and reports each wall; each wall is a test of its own. Then the limits: memory (OOM
/// kills, reported as the kubelet reports them), processes, CPU, logs; and the security context.
@Suite(.serialized, .enabled(if: InstanceHarness.available, "needs root, runc, busybox-static and xfsprogs"), ProbeRuns())
struct WallTests {
    /// The walls gVisor holds by another means than the host kernel's: the call reaches gVisor's
    /// own kernel (the sentry), which the container cannot leave, not the host's. Each is listed
    /// with why; the probe's report must show the call answered by gVisor.
    static let heldByTheSentry: [String: String] = [
        "user-namespace": "ids are the sentry's; the sentry itself runs unprivileged on the host",
        "unshare-user-net": "the namespaces made are the sentry's",
        "unshare-mount": "the namespaces made are the sentry's",
        "seccomp-filter": "gVisor filters the sentry's own calls to the host; the container's never reach it",
        "cgroup-namespace": "the cgroups shown are the sentry's",
        "io-uring-setup": "gVisor's io_uring is its own",
        "perf-event-open": "gVisor has no performance counters to open (ENODEV); the host's are out of reach",
        "mknod-block": "a device node in gVisor's filesystem opens nothing of the host",
        "ptrace": "the processes are the sentry's",
    ]

    @Test(arguments: ProbeProgram.walls)
    func theWallHoldsInRunc(_ wall: String) async throws {
        let report = try #require(ProbeRuns.reports[.runc], "the probe ran")
        let result = try #require(report[wall], "the probe reported \(wall)")
        #expect(result.held, "\(wall): \(result.detail)")
    }

    @Test(arguments: ProbeProgram.walls)
    func theWallHoldsInGVisor(_ wall: String) async throws {
        try #require(InstanceHarness.gvisorAvailable, "runsc is not installed")
        let report = try #require(ProbeRuns.reports[.gvisor], "the probe ran")
        let result = try #require(report[wall], "the probe reported \(wall)")
        if let why = Self.heldByTheSentry[wall], !result.held {
            #expect(
                ProbeRuns.gvisorKernel.contains("gVisor") || ProbeRuns.gvisorKernel.contains("4.4.0"),
                "\(wall) reached gVisor's kernel: \(why)")
        } else {
            #expect(result.held, "\(wall): \(result.detail)")
        }
    }
}

/// Runs the probe once per runtime class for the whole `WallTests` suite, in one harness.
struct ProbeRuns: SuiteTrait, TestScoping {
    private static let state = Mutex<([RuntimeClass: [String: (held: Bool, detail: String)]], String)>(([:], ""))
    static var reports: [RuntimeClass: [String: (held: Bool, detail: String)]] { state.withLock { $0.0 } }
    /// `uname -r` inside gVisor (gVisor says it is Linux 4.4.0).
    static var gvisorKernel: String { state.withLock { $0.1 } }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard InstanceHarness.available else { return try await function() }
        let harness = try await InstanceHarness()
        do {
            harness.registry.add(try ProbeProgram.image(), repository: "probe", tag: "v1")
            let image = "\(harness.registry.host)/probe:v1"
            _ = try await harness.buildCache([image])
            let forbidden = [harness.dir.path, harness.pool.root, "/var/lib/imc", ".img"]
            var runtimes: [RuntimeClass] = [.runc]
            if InstanceHarness.gvisorAvailable { runtimes.append(.gvisor) }
            for runtime in runtimes {
                let (instance, log) = try await harness.run(
                    harness.request(image: image, command: ["/probe", "walls"] + forbidden, runtime: runtime))
                print(
                    "probe in \(runtime.rawValue) (\(instance.status.rawValue)):\n\(log)\n\(instance.events.map(\.message).joined(separator: "\n"))"
                )
                let report = ProbeProgram.report(log)
                var kernel = ""
                if runtime == .gvisor {
                    let (named, uname) = try await harness.run(
                        harness.request(
                            image: image, command: ["/bin/sh", "-c", "uname -r; dmesg 2>/dev/null | head -1"], runtime: runtime))
                    kernel = uname
                    try await harness.remove(named.id)
                }
                Self.state.withLock {
                    $0.0[runtime] = report
                    if runtime == .gvisor { $0.1 = kernel }
                }
                try await harness.remove(instance.id)
            }
        } catch {
            await harness.close()
            throw error
        }
        do { try await function() } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }
}

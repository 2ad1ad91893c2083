import Foundation
import IMCInstance
import IMCInstances
import IMCOS
import IMCRuntime
import IMCTestSupport
import Testing

/// An instance's Cpu and Memory are enforced, its processes are counted, its output is rotated
/// and capped on its own disk, and its security context is honoured; for both runtime classes
/// where the class can.
@Suite(.serialized, .enabled(if: InstanceHarness.available, "needs root, runc, busybox-static and xfsprogs"))
struct LimitTests {
    static var runtimes: [RuntimeClass] { InstanceHarness.gvisorAvailable ? [.runc, .gvisor] : [.runc] }

    func withProbeCache(
        limits: InstanceLimits = InstanceLimits(), _ body: (InstanceHarness, String) async throws -> Void
    ) async throws {
        let harness = try await InstanceHarness(limits: limits)
        do {
            harness.registry.add(try ProbeProgram.image(), repository: "probe", tag: "v1")
            let image = "\(harness.registry.host)/probe:v1"
            _ = try await harness.buildCache([image])
            try await body(harness, image)
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    @Test(arguments: runtimes)
    func aContainerPastItsMemoryIsOOMKilledAsTheKubeletReportsIt(runtime: RuntimeClass) async throws {
        try await withProbeCache { harness, image in
            let (done, log) = try await harness.run(
                harness.request(image: image, command: ["/probe", "eat", "1024"], runtime: runtime, memory: 0.125))
            let state = try #require(done.states["c0"])
            #expect(
                state.state == .terminated && state.reason == "OOMKilled" && state.exitCode == 137,
                "\(state) \(log) \(done.events.map(\.message))")
            #expect(!log.contains("touched 1024 MiB"))
            try await harness.remove(done.id)
        }
    }

    @Test(arguments: runtimes)
    func processesPastThePidsLimitAreRefused(runtime: RuntimeClass) async throws {
        var limits = InstanceLimits()
        limits.pidsPerInstance = 64
        try await withProbeCache(limits: limits) { harness, image in
            let (done, log) = try await harness.run(harness.request(image: image, command: ["/probe", "fork", "20000"], runtime: runtime))
            let started = log.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            if runtime == .gvisor && started == nil {
                // gVisor's sentry runs the Pod's processes as host threads: past the limit it cannot
                // make one and the sandbox ends, with every process counted against the limit.
                #expect(done.status == .failed, "\(log) \(done.events.map(\.message))")
            } else {
                #expect(try #require(started, "\(log) \(done.events.map(\.message))") < 64, "\(log)")
            }
            try await harness.remove(done.id)
        }
    }

    @Test func theInstancesCpuIsACFSQuotaOnItsCgroup() async throws {
        try await withProbeCache { harness, image in
            let created = try await harness.service.create(
                harness.request(image: image, command: ["/bin/sleep", "30"], memory: 0.25, cpu: 0.5), account: harness.account,
                region: harness.region)
            let running = try await harness.wait(created[0].id) { $0.status == .running }
            let cgroup = InstanceCgroup(instance: running.id)
            let quota = cgroup.read("cpu.max", controller: "cpu") ?? cgroup.read("cpu.cfs_quota_us", controller: "cpu")
            #expect(quota?.hasPrefix("50000") == true, "\(quota ?? "no cgroup")")
            let memory = cgroup.read("memory.max", controller: "memory") ?? cgroup.read("memory.limit_in_bytes", controller: "memory")
            #expect(memory?.trimmingCharacters(in: .whitespacesAndNewlines) == "\(1 << 28)")
            try await harness.remove(running.id)
            #expect(cgroup.read("cpu.max", controller: "cpu") == nil && cgroup.read("cpu.cfs_quota_us", controller: "cpu") == nil, "gone")
        }
    }

    @Test func outputIsRotatedAndCappedOnTheInstancesOwnDisk() async throws {
        var limits = InstanceLimits()
        limits.logMaxBytes = 64 << 10
        limits.logFiles = 3
        try await withProbeCache(limits: limits) { harness, image in
            let line = String(repeating: "x", count: 1023)
            let (done, _) = try await harness.run(
                harness.request(
                    image: image, command: ["/bin/sh", "-c", "i=0; while [ $i -lt 2048 ]; do echo \(line); i=$((i+1)); done; echo last"]))
            #expect(done.status == .succeeded)
            let logs = harness.service.diskMount(done.id) + "/.imc-logs"
            let files = try FileManager.default.contentsOfDirectory(atPath: logs).sorted()
            #expect(files == ["c0.log", "c0.log.1", "c0.log.2"], "\(files)")
            for f in files {
                let size = try #require(try FileManager.default.attributesOfItem(atPath: logs + "/" + f)[.size] as? Int)
                #expect(size <= 64 << 10)
            }
            let tail = try await harness.service.logs(id: done.id, account: harness.account, container: "c0", tail: 1, limitBytes: nil).1
            #expect(tail == "last\n")
            try await harness.remove(done.id)
        }
    }

    @Test(arguments: runtimes)
    func theSecurityContextIsHonoured(runtime: RuntimeClass) async throws {
        try await withProbeCache { harness, image in
            let (user, userLog) = try await harness.run(
                harness.request(
                    image: image, command: ["/bin/sh", "-c", "id -u; id -g; touch /written && echo writable"], runtime: runtime,
                    security: ContainerSecurity(runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true)))
            // (touch's complaint is on stderr, a pipe of its own: it may come anywhere between the
            // lines of the other)
            #expect(
                userLog.split(separator: "\n").filter { $0 == "1000" }.count == 2 && !userLog.contains("writable"), "\(userLog)")
            try await harness.remove(user.id)
            let (dropped, capLog) = try await harness.run(
                harness.request(
                    image: image, command: ["/bin/sh", "-c", "grep CapEff /proc/self/status"], runtime: runtime,
                    security: ContainerSecurity(drop: ["ALL"])))
            #expect(capLog.contains("0000000000000000"), "\(capLog)")
            try await harness.remove(dropped.id)
            let (root, _) = try await harness.run(
                harness.request(image: image, command: ["/bin/true"], runtime: runtime, security: ContainerSecurity(runAsNonRoot: true)))
            #expect(root.status == .failed && root.events.contains { $0.message.contains("runAsNonRoot") }, "\(root.events.map(\.message))")
            try await harness.remove(root.id)
        }
    }

    @Test func containerRootIsAnUnprivilegedIDRangeOnTheHostAndLayersAreNotChowned() async throws {
        try await withProbeCache { harness, image in
            let created = try await harness.service.create(
                harness.request(image: image, command: ["/bin/sh", "-c", "stat -c %u /bin/busybox; sleep 30"]), account: harness.account,
                region: harness.region)
            let running = try await harness.wait(created[0].id) { $0.status == .running }
            let base = try #require(running.idRangeBase)
            #expect(base >= 1 << 30)
            // The container's process, seen from the host, is the range's first id, not root.
            let pids = try String(contentsOfFile: InstanceCgroup(instance: running.id).procsFile(container: "c0"), encoding: .utf8)
            let pid = try #require(pids.split(separator: "\n").first)
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            #expect(status.contains("Uid:\t\(base)\t"), "\(status.split(separator: "\n").filter { $0.hasPrefix("Uid") })")
            // The file is root's inside and still root's on the disk: shown idmapped, never chowned.
            var log = ""
            let deadline = ContinuousClock.now + .seconds(10)
            while log.isEmpty && ContinuousClock.now < deadline {
                log = try await harness.service.logs(id: running.id, account: harness.account, container: nil, tail: nil, limitBytes: nil).1
                if log.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(log.hasPrefix("0\n"))
            var st = stat()
            #expect(lstat(harness.service.diskMount(running.id) + "/layers", &st) == 0 && st.st_uid == 0)
            try await harness.remove(running.id)
            await #expect(try harness.instances.allocatedIDRanges()[running.id] == nil, "the range is free again")
        }
    }
}

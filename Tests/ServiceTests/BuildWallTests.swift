import Foundation
import IMCCache
import IMCCaches
import IMCInstance
import IMCOS
import IMCRegistry
import IMCRuntime
import IMCStore
import IMCTestSupport
import Logging
import Testing

/// Builds run walled off: in a sandbox that sees its build disk and nothing else, against
/// registries the address rules allow, within a deadline, and shared fairly between accounts.
@Suite(.serialized, .enabled(if: InstanceHarness.available, "needs root, runc, busybox-static and xfsprogs"))
struct BuildWallTests {
    func withHarness(
        sandboxed: Bool, options: RegistryClientOptions = RegistryClientOptionsForTests.fast, policy: BuildPolicy = BuildPolicy(),
        _ body: (InstanceHarness) async throws -> Void
    ) async throws {
        let harness = try await InstanceHarness(builderOptions: options, policy: policy, sandboxed: sandboxed)
        do { try await body(harness) } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    @Test func aSandboxedBuildWritesTheImagesAsRootOnTheDiskAndTheyRun() async throws {
        try await withHarness(sandboxed: true) { harness in
            harness.registry.add(try RunnableImages.image(files: ["app/msg": "built in a sandbox\n"]), repository: "app", tag: "v1")
            let image = "\(harness.registry.host)/app:v1"
            let cache = try await harness.buildCache([image])
            #expect(cache.events.contains { $0.reason == "Pulled" })
            let (done, log) = try await harness.run(
                harness.request(image: image, command: ["/bin/sh", "-c", "cat /app/msg; stat -c %u:%g /app/msg /bin/busybox"]))
            #expect(done.status == .succeeded && done.cacheOutcome == .used)
            #expect(log == "built in a sandbox\n0:0\n0:0\n", "\(log)")
            try await harness.remove(done.id)
            #expect(try await harness.instances.allocatedIDRanges().isEmpty, "the build's id range was given back")
        }
    }

    /// A build in a user namespace cannot write `trusted.overlay.opaque`: it marks opaque
    /// directories `user.overlay.opaque`, and instances mount such layers with `userxattr`, so a
    /// directory an upper layer made opaque hides the lower one's files, as it must.
    @Test func opaqueDirectoriesHoldWhenTheBuildRanInAUserNamespace() async throws {
        try await withHarness(sandboxed: true) { harness in
            var lower = TarBuilder()
            lower.directory("data")
            lower.file("data/old", "from the lower layer\n")
            lower.file("data/kept-out", "hidden\n")
            var upper = TarBuilder()
            upper.directory("data")
            upper.opaque("data")
            upper.file("data/new", "from the upper layer\n")
            upper.whiteout("etc/group")
            let image = try TestImage(layers: [try RunnableImages.busyboxLayer(), lower, upper], cmd: ["/bin/ls", "/data"])
            harness.registry.add(image, repository: "opaque", tag: "v1")
            let reference = "\(harness.registry.host)/opaque:v1"
            _ = try await harness.buildCache([reference])
            let (done, log) = try await harness.run(
                harness.request(image: reference, command: ["/bin/sh", "-c", "ls /data; cat /etc/group 2>/dev/null || echo no-group"]))
            #expect(done.status == .succeeded && done.cacheOutcome == .used)
            #expect(log == "new\nno-group\n", "\(log)")
            try await harness.remove(done.id)
        }
    }

    /// The sandbox's walls, tried by the probe run as the sandbox's program: its own user
    /// namespace, the seccomp filter, and no database, key, data root or other disk in view.
    @Test func theSandboxSeesNothingOfTheHost() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-sandbox")
        chmod(dir.path, 0o711)
        let probe = try ProbeProgram.path()
        let runc = Runc(root: dir.appending("runc"))
        let bundle = dir.appending("bundle")
        var spec = SandboxSpec(program: probe, arguments: ["walls"], ids: IDRange(base: (1 << 30) + (8000 << 16)))
        try spec.write(bundle: bundle, cgroupsPath: "/imc/sandbox-test/job")
        let outcome = try await runSandbox(runc, bundle: bundle, id: "sandbox-walls")
        let report = ProbeProgram.report(outcome)
        for wall in ["user-namespace", "unshare-user-net", "add-key", "bpf", "mount", "mknod-block", "seccomp-filter", "no-sys-admin"] {
            #expect(report[wall]?.held == true, "\(wall): \(report[wall]?.detail ?? "not reported") \(outcome)")
        }
        spec.arguments = ["absent", "/var/lib/imc", dir.path, "/root", "/proc/1/root/etc/shadow", "/sys/block/loop0", "/dev/loop0"]
        try FileManager.default.removeItem(atPath: bundle)
        try spec.write(bundle: bundle, cgroupsPath: "/imc/sandbox-test/job")
        let absent = ProbeProgram.report(try await runSandbox(runc, bundle: bundle, id: "sandbox-absent"))
        #expect(absent.count == 6 && absent.values.allSatisfy(\.held), "\(absent)")
        InstanceCgroup(instance: "sandbox-test").remove()
    }

    func runSandbox(_ runc: Runc, bundle: String, id: String) async throws -> String {
        let (writer, lines) = try LineReader.pipe()
        let child = try await runc.run(id: id, bundle: bundle, output: writer)
        var out = ""
        for await line in lines { out += line + "\n" }
        _ = await child.exit()
        await runc.delete(id: id)
        return out
    }

    @Test(arguments: [false, true])
    func aRegistryOnAnInternalAddressIsRefusedNamingTheRule(sandboxed: Bool) async throws {
        var options = RegistryClientOptionsForTests.fast
        options.addressPolicy = .service(allowing: [])
        try await withHarness(sandboxed: sandboxed, options: options) { harness in
            harness.registry.add(try RunnableImages.image(), repository: "app", tag: "v1")
            var request = CacheRequest()
            request.images = ["\(harness.registry.host)/app:v1"]
            request.size = 20
            request.registryHttpEndPointList = [harness.registry.host]
            let c = try await harness.caches.create(request, account: harness.account, region: harness.region)
            let failed = try #require(await harness.builder.build(c.id, account: harness.account))
            let event = try #require(failed.events.last)
            #expect(failed.status == .failed && event.reason == "RegistryRefused", "\(event.reason): \(event.message)")
            #expect(event.message.contains("\"loopback\"") && event.message.contains("RegistryAllowedNetworks"))
            #expect(harness.registry.requests.isEmpty, "nothing was asked of the registry")
        }
    }

    @Test(arguments: [false, true])
    func aBuildPastItsDeadlineIsStoppedAndFails(sandboxed: Bool) async throws {
        var policy = BuildPolicy()
        policy.deadline = .seconds(3)
        var options = RegistryClientOptionsForTests.fast
        options.stallTimeout = .seconds(600)
        try await withHarness(sandboxed: sandboxed, options: options, policy: policy) { harness in
            harness.registry.add(try RunnableImages.image(padding: 1 << 20), repository: "slow", tag: "v1")
            harness.registry.script(.stall(afterBytes: 1000, seconds: 3600), on: .blob)
            var request = CacheRequest()
            request.images = ["\(harness.registry.host)/slow:v1"]
            request.size = 20
            request.registryHttpEndPointList = [harness.registry.host]
            let c = try await harness.caches.create(request, account: harness.account, region: harness.region)
            let t0 = ContinuousClock.now
            let failed = try #require(await harness.builder.build(c.id, account: harness.account))
            #expect(ContinuousClock.now - t0 < .seconds(60))
            let event = try #require(failed.events.last)
            #expect(failed.status == .failed && event.reason == "BuildDeadlineExceeded", "\(event.reason): \(event.message)")
            #expect(event.message == "Build stopped: it ran past its deadline of 0.05 minutes")
            #expect(MountTable.targets(under: harness.dir.appending("build")).isEmpty && harness.disks.allDiskIDs().isEmpty)
        }
    }

    @Test func anAccountsStalledBuildDoesNotHoldAnotherAccountsBuild() async throws {
        var options = RegistryClientOptionsForTests.fast
        options.stallTimeout = .seconds(600)
        try await withHarness(sandboxed: false, options: options) { harness in
            let slowImage = try RunnableImages.image(padding: 1 << 20)
            harness.registry.add(slowImage, repository: "slow", tag: "v1")
            harness.registry.add(try RunnableImages.image(), repository: "quick", tag: "v1")
            // Account a: a build that stalls, and many more queued behind it.
            harness.registry.script(
                .stall(afterBytes: 1000, seconds: 3600), on: .blobDigest(slowImage.layers[1].descriptor.digest.description), times: 100)
            var slow = CacheRequest()
            slow.images = ["\(harness.registry.host)/slow:v1"]
            slow.size = 20
            slow.registryHttpEndPointList = [harness.registry.host]
            for _ in 0..<5 { _ = try await harness.caches.create(slow, account: "a", region: harness.region) }
            let worker = BuildWorker(
                builder: harness.builder, repository: harness.cacheRepository, disks: harness.disks, snapshots: harness.snapshots,
                pollInterval: .milliseconds(50), logger: Logger(label: "test"))
            let copies = (0..<2).map { _ in Task { try await worker.run() } }
            defer { for c in copies { c.cancel() } }
            try await Task.sleep(for: .milliseconds(500))
            // Account b's cache comes last; the second builder takes it, not a's next.
            var quick = CacheRequest()
            quick.images = ["\(harness.registry.host)/quick:v1"]
            quick.size = 20
            quick.registryHttpEndPointList = [harness.registry.host]
            let b = try await harness.caches.create(quick, account: "b", region: harness.region)
            let deadline = ContinuousClock.now + .seconds(60)
            var status = CacheStatus.pending
            while ContinuousClock.now < deadline {
                status = try #require(try await harness.cacheRepository.get(id: b.id, account: "b")).status
                if status != .pending { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(status == .ready)
            #expect(
                await try harness.cacheRepository.all(in: [.pending]).filter { $0.account == "a" }.count == 5,
                "a's are still queued or stalled")
            for c in copies { c.cancel() }
            for c in copies { _ = await c.result }
            try await harness.caches.delete(
                ids: try harness.cacheRepository.list(account: "a", query: CacheQuery()).caches.map(\.id), account: "a")
        }
    }

    @Test func theQueueGoesToTheAccountServedLeastRecently() {
        struct Queued {
            let id: String
            let account: String
        }
        var policy = BuildPolicy()
        policy.perAccount = 1
        let queue = BuildQueue(policy: policy)
        let queued =
            (0..<100).map { Queued(id: "a\($0)", account: "a") } + [Queued(id: "b0", account: "b"), Queued(id: "c0", account: "c")]
        let first = queue.claimNext(from: queued, id: \.id, account: \.account)
        let second = queue.claimNext(from: queued, id: \.id, account: \.account)
        let third = queue.claimNext(from: queued, id: \.id, account: \.account)
        #expect([first?.id, second?.id, third?.id] == ["a0", "b0", "c0"])
        #expect(queue.claimNext(from: queued, id: \.id, account: \.account) == nil, "each account has its one share")
        queue.release(id: "b0", account: "b")
        queue.release(id: "a0", account: "a")
        // b was served after a: a goes first now.
        #expect(queue.claimNext(from: queued.filter { $0.id != "a0" && $0.id != "b0" }, id: \.id, account: \.account)?.id == "a1")
    }
}

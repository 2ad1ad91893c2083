import ArgumentParser
import Foundation
import IMCAPI
import IMCClient
import IMCDisks
import IMCModel
import IMCOS
import IMCRegistry
import IMCRuntime
import IMCTestSupport
import NIOCore

/// 200 instances created and deleted, 8 at a time, from one cache; afterwards, checked rather
/// than assumed: no failure, and no mount, loop device, disk file, runc container or container
/// process left.
struct LoadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Create and delete many instances from one cache; check for leaks.")

    @Option(help: "Instances in all.") var instances = 200
    @Option(help: "Instances at once.") var concurrency = 8
    @Option(help: "Where the run goes.") var work = "/var/tmp/imc-bench"
    @Option(help: "The imc binary.") var imc = ".build/release/imc"
    @Option(help: "Write the results as Markdown to this file.") var markdown: String?

    func run() async throws {
        let imcPath = URL(fileURLWithPath: imc).standardizedFileURL.path
        let registry = try await DockerRegistry.start()
        defer { registry.stop() }
        let push = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry.host]))
        try await push.push(
            try RunnableImages.image(files: ["app/msg": "load\n"], cmd: ["/bin/sleep", "3600"]), host: registry.host,
            repository: "bench/load",
            tag: "v1")
        try await push.shutdown()
        let root = work + "/load-runs"
        try? FileManager.default.removeItem(atPath: root)
        let loopsBefore = try Measure.shell("losetup -a | wc -l").trimmingCharacters(in: .whitespacesAndNewlines)
        let serve = try await ServeProcess(
            imc: imcPath, dataRoot: root, builders: 1, extraArguments: ["--plain-http", registry.host])
        defer { serve.stop() }
        let client = APIClient(serve.settings)
        let image = "\(registry.host)/bench/load:v1"
        var create = CreateImageCacheRequest(Images: [image])
        create.ImageCacheName = "load"
        create.RegistryHttpEndPointList = [registry.host]
        let cacheID = try await client.send(create).ImageCacheId
        guard try await client.waitForBuild(cacheID).Status == "Ready" else { throw BenchError("the load cache failed") }
        let t0 = ContinuousClock.now
        let outcome = try await withThrowingTaskGroup(of: (Double?, String?).self) { group in
            var next = 0
            var started: [Double] = []
            var failures: [String] = []
            func launch() {
                let n = next
                next += 1
                group.addTask { try await Self.cycle(client, image: image, name: "load-\(n)") }
            }
            for _ in 0..<min(concurrency, instances) { launch() }
            while let (seconds, failure) = try await group.next() {
                if let seconds { started.append(seconds) }
                if let failure { failures.append(failure) }
                if next < instances { launch() }
            }
            return (started, failures)
        }
        let elapsed = (ContinuousClock.now - t0).seconds
        try await Task.sleep(for: .milliseconds(500))
        let left = try await client.send(DescribeEKSContainerInstancesRequest(Limit: 100)).TotalCount
        _ = try await client.send(DeleteImageCachesRequest(ImageCacheIds: [cacheID]))
        try await client.shutdown()

        let leftMounts = MountTable.targets(under: root + "/instances")
        let mounts = "\(leftMounts.count)"
        let loopsAfter = try Measure.shell("losetup -a | wc -l").trimmingCharacters(in: .whitespacesAndNewlines)
        let diskFiles = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/pool/disks")) ?? []).count
        let runcLeft = try Measure.shell("/usr/sbin/runc --root \(root)/instances/runc list -q 2>/dev/null | wc -l").trimmingCharacters(
            in: .whitespacesAndNewlines)
        let processes = try Measure.shell("pgrep -f -c '[r]unc --root \(root)' || true").trimmingCharacters(in: .whitespacesAndNewlines)
        let sleepers = try Measure.shell("pgrep -c -f '^/bin/sleep 3600$' || true").trimmingCharacters(in: .whitespacesAndNewlines)
        let namespaces = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix("imc-eksci-") }
            .count
        let cgroups = InstanceCgroup.existing().count
        let times = outcome.0.sorted()
        let p99 = times.isEmpty ? 0 : times[min(times.count - 1, Int(Double(times.count) * 0.99))]
        // The pool's own loop device stays while the service runs: one more than before.
        let report = """
            | instances | at once | failures | start (create to running) median / p99 | wall time | instances left | instance mounts left | loop devices before / after (pool's included) | disk files left | runc containers left | runc / container processes left | network namespaces left | instance cgroups left |
            |---|---|---|---|---|---|---|---|---|---|---|---|---|
            | \(instances) | \(concurrency) | \(outcome.1.count) | \(String(format: "%.0f / %.0f ms", Measure.median(times) * 1000, p99 * 1000)) | \(String(format: "%.1f s", elapsed)) | \(left) | \(mounts) | \(loopsBefore) / \(loopsAfter) | \(diskFiles) | \(runcLeft) | \(processes) / \(sleepers) | \(namespaces) | \(cgroups) |

            """
        print(report)
        for f in outcome.1.prefix(5) { print("failure: \(f)") }
        for m in leftMounts.prefix(5) { print("mount left: \(m)") }
        if let markdown { try report.write(toFile: markdown, atomically: true, encoding: .utf8) }
        if !outcome.1.isEmpty || left != 0 || mounts != "0" || diskFiles != 0 || runcLeft != "0" || namespaces != 0 || cgroups != 0 {
            throw ExitCode(1)
        }
    }

    /// One instance: create, wait until it runs, delete, wait until it is gone.
    static func cycle(_ client: APIClient, image: String, name: String) async throws -> (Double?, String?) {
        let t0 = ContinuousClock.now
        do {
            var request = CreateEKSContainerInstancesRequest(Containers: [Container(Name: "main", Image: image)])
            request.EksCiName = name
            request.AutoMatchImageCache = true
            request.TerminationGracePeriodSeconds = 1
            let id = try await client.send(request).EksCiIds.first ?? ""
            var started: Double?
            while started == nil {
                let i = try await client.instance(id)
                switch i?.Status {
                case "Running": started = (ContinuousClock.now - t0).seconds
                case "Failed", "Succeeded": return (nil, "\(id) ended \(i?.Status ?? ""): \(i?.StatusMessage ?? "")")
                default: try await Task.sleep(for: .milliseconds(5))
                }
            }
            try await client.deleteInstancesAndWait([id])
            return (started, nil)
        } catch {
            return (nil, "\(name): \(error)")
        }
    }
}

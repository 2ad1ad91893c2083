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

/// The images of the start-up benchmark: busybox (to have something to run) over tarballs of
/// this machine's directories, about 100 MiB, 1 GiB and 4 GiB unpacked.
enum StartupImages {
    static let sets: [(name: String, layers: [String])] = [
        ("s100m", ["usr/local/bin"]),
        ("s1g", ["usr/bin", "usr/share"]),
        ("s4g", ["usr/lib/x86_64-linux-gnu", "opt/swift"]),
    ]
}

/// Pushes one start-up image: the busybox layer, then the directories' layers.
struct PushImage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push-image", abstract: "Push a runnable benchmark image.")
    @Option var registry: String
    @Option var work: String
    @Option var repository: String
    @Option var layer: [String]

    func run() async throws {
        var prepare = try PullBenchmark.parse(["--work", work] + layer.flatMap { ["--layer", $0] })
        prepare.runs = 1
        let layers = try prepare.prepareLayers()
        let busybox = try TestImage(layers: [RunnableImages.busyboxLayer()]).layers[0]
        let client = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry]))
        do {
            try await client.pushBlob(
                host: registry, repository: repository, bytes: ByteBuffer(bytes: busybox.blob), digest: busybox.descriptor.digest)
            for l in layers {
                let data = try Data(contentsOf: URL(fileURLWithPath: l.gz))
                try await client.pushBlob(host: registry, repository: repository, bytes: ByteBuffer(data: data), digest: l.digest)
            }
            var runtime = ImageConfig.Config()
            runtime.Cmd = ["/bin/sleep", "3600"]
            runtime.Env = ["PATH=/bin"]
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let config = try encoder.encode(ImageConfig(platform: .host, diffIDs: [busybox.diffID] + layers.map(\.diffID), config: runtime))
            let configDigest = try await client.pushBlob(host: registry, repository: repository, bytes: ByteBuffer(data: config))
            let manifest = ImageManifest(
                mediaType: MediaType.dockerManifest,
                config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(config.count)),
                layers: [Descriptor(mediaType: MediaType.dockerLayerGzip, digest: busybox.descriptor.digest, size: busybox.descriptor.size)]
                    + layers.map { Descriptor(mediaType: MediaType.dockerLayerGzip, digest: $0.digest, size: $0.gzSize) })
            try await client.pushManifest(
                host: registry, repository: repository, reference: "v1", data: try encoder.encode(manifest),
                mediaType: MediaType.dockerManifest)
            try await client.shutdown()
            let unpacked = layers.reduce(Int64(busybox.tar.count)) { $0 + $1.tarSize }
            print("\(repository):v1 \(unpacked)")
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// Create -> first container process running, for images of about 100 MiB, 1 GiB and 4 GiB
/// unpacked: through imc serve with a matching cache, through imc serve with no cache (a cold
/// pull from the local registry), and `podman run` of the same image pulled cold. Runs
/// alternate; every run starts with no dirty pages and an empty page cache.
struct StartupBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "startup", abstract: "Benchmark instance start-up with a cache, without one, and podman run.")

    @Option(help: "Rounds; each round runs every path for every size once.") var runs = 3
    @Option(help: "Where the layers' tarballs and the runs go.") var work = "/var/tmp/imc-bench"
    @Option(help: "The imc binary.") var imc = ".build/release/imc"
    @Option(help: "Only these image sets (s100m, s1g, s4g).") var only: [String] = []
    @Option(help: "Seconds to let the disk settle after a cold run's files are removed.") var settle = 10
    @Option(help: "Write the results as Markdown to this file.") var markdown: String?
    @Option(help: "The instances' runtime class: runc or gvisor.") var runtimeClass = "runc"
    @Option(
        name: .customLong("path"),
        help: "Only these paths (\"imc, cache\", \"imc, no cache\", \"podman run\"); repeatable. Default: all three.")
    var paths: [String] = []
    @Option(
        help:
            "Milliseconds between the client's DescribeEKSContainerInstances while it waits for Running (every poll costs the server CPU on the same cores)."
    )
    var pollMs = 10
    @Option(help: "Start imc's instances on this VPC (an address, a veth on its bridge, its security group's rules).")
    var vpc: String?
    @Option(help: "Seconds to wait after the caches are built (their snapshots are checksummed right after, reading every byte).")
    var settleAfterBuild = 30
    @Flag(
        help:
            "Layer-level use instead: a cache of a 1 GiB image, then an image with the same base layers and another top layer started from it (only the top layer pulled), against a cold pull and podman run of that image."
    )
    var changedTop = false
    struct Timing {
        var wall: Double
        var server: Double?
        /// Milliseconds from creation to each start-up phase (matched, disk ready ...).
        var phases: [String: Double] = [:]
    }

    func run() async throws {
        if changedTop { return try await runChangedTop() }
        let imcPath = URL(fileURLWithPath: imc).standardizedFileURL.path
        let bench = CommandLine.arguments[0]
        let registry = try await DockerRegistry.start()
        defer { registry.stop() }
        let sets = StartupImages.sets.filter { only.isEmpty || only.contains($0.name) }
        var sizes: [String: Int64] = [:]
        for set in sets {
            sizes[set.name] = try pushImage(bench, registry: registry.host, name: set.name, layers: set.layers)
        }
        let root = work + "/startup-runs"
        let serve = try await freshService(imcPath, root: root, registry: registry.host)
        defer { serve.stop() }
        let client = APIClient(serve.settings)
        for set in sets {
            var create = CreateImageCacheRequest(Images: ["\(registry.host)/bench/\(set.name):v1"])
            create.ImageCacheName = set.name
            create.RegistryHttpEndPointList = [registry.host]
            let id = try await client.send(create).ImageCacheId
            let built = try await client.waitForBuild(id)
            guard built.Status == "Ready" else { throw BenchError("the cache of \(set.name) failed: \(built.Events.map(\.Message))") }
            print("cache of bench/\(set.name) ready: \(id)")
        }

        try await Task.sleep(for: .seconds(settleAfterBuild))
        var results: [String: [String: [Timing]]] = [:]
        var counter = 0
        for round in 1...runs {
            for set in (round % 2 == 1 ? sets : sets.reversed()) {
                let image = "\(registry.host)/bench/\(set.name):v1"
                let chosen = paths.isEmpty ? ["imc, cache", "imc, no cache", "podman run"] : paths
                for path in (round % 2 == 1 ? chosen : chosen.reversed()) {
                    try await settleDisk(serve.dataRoot)
                    counter += 1
                    let t: Timing
                    switch path {
                    case "podman run": t = try podmanRun(image, dir: "\(root)/podman-\(counter)", registry: registry.host)
                    default: t = try await imcRun(client, image, cache: path == "imc, cache", name: "b\(counter)")
                    }
                    results[set.name, default: [:]][path, default: []].append(t)
                    print(
                        String(
                            format: "round %d  %-6@ %-14@ %8.1f ms%@", round, set.name as NSString, path as NSString, t.wall * 1000,
                            t.server.map { String(format: "  (server: %.1f ms)", $0 * 1000) } ?? ""))
                }
            }
        }
        try await client.shutdown()

        var report =
            "| image (unpacked) | with a cache: median (runs) | no cache, cold pull: median (runs) | podman run, cold: median (runs) | cold / cache | podman / cache |\n|---|---|---|---|---|---|\n"
        // A path not run (`--path`) is a dash, not a zero.
        func cell(_ ts: [Timing]) -> String {
            guard !ts.isEmpty else { return "-" }
            return String(
                format: "%.0f ms (%@)", Measure.median(ts.map(\.wall)) * 1000,
                ts.map { String(format: "%.0f", $0.wall * 1000) }.joined(separator: ", "))
        }
        func ratio(_ a: Double, _ b: Double) -> String { a > 0 && b > 0 ? String(format: "%.0fx", a / b) : "-" }
        for set in sets {
            let r = results[set.name] ?? [:]
            let cached = Measure.median((r["imc, cache"] ?? []).map(\.wall))
            let cold = Measure.median((r["imc, no cache"] ?? []).map(\.wall))
            let podman = Measure.median((r["podman run"] ?? []).map(\.wall))
            report += String(
                format: "| bench/%@ (%@) | %@ | %@ | %@ | %@ | %@ |\n", set.name, mb(sizes[set.name] ?? 0),
                cell(r["imc, cache"] ?? []), cell(r["imc, no cache"] ?? []), cell(r["podman run"] ?? []), ratio(cold, cached),
                ratio(podman, cached))
        }
        let serverCached = sets.map { set in
            Measure.median((results[set.name]?["imc, cache"] ?? []).compactMap(\.server)) * 1000
        }
        report += "\nServer-side (creation to the container's process running, from the instance's phases), with a cache: "
        report += zip(sets, serverCached).map { String(format: "%@ %.0f ms", $0.0.name, $0.1) }.joined(separator: ", ") + ".\n"
        if let first = sets.first, let last = sets.last, first.name != last.name {
            let a = Measure.median((results[first.name]?["imc, cache"] ?? []).map(\.wall))
            let b = Measure.median((results[last.name]?["imc, cache"] ?? []).map(\.wall))
            report += String(format: "Flatness with a cache: %@ / %@ = %.2fx.\n", last.name, first.name, b / max(a, 1e-6))
        }
        report += "\nWhere a cached start goes (median milliseconds from creation, runtime class \(runtimeClass)):\n\n"
        let order = [
            "Matched", "DiskReady", "DiskMounted", "Isolated", "ImageReady", "LayersMapped", "NetworkReady", "ContainerCreated", "Started",
        ]
        report += "| image | " + order.joined(separator: " | ") + " |\n|---|" + order.map { _ in "---|" }.joined() + "\n"
        for set in sets {
            let runs = results[set.name]?["imc, cache"] ?? []
            report +=
                "| \(set.name) | "
                + order.map { name in
                    let values = runs.compactMap { $0.phases[name] }
                    return values.isEmpty ? "-" : String(format: "%.0f", Measure.median(values))
                }.joined(separator: " | ") + " |\n"
        }
        print(report)
        if let markdown { try report.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }

    /// No dirty pages, an empty page cache, and no removal of a previous run still under way.
    func settleDisk(_ dataRoot: String) async throws {
        let node = dataRoot + "/instances/node"
        var waited = false
        while ((try? FileManager.default.contentsOfDirectory(atPath: node)) ?? []).contains(where: { $0.hasPrefix(".trash") }) {
            waited = true
            try await Task.sleep(for: .milliseconds(100))
        }
        sync()
        if waited { try await Task.sleep(for: .seconds(settle)) }
        try "3\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)
    }

    /// Layer-level use, measured: `bench/top-a` (busybox, /usr/bin, /usr/share, /etc on top) is
    /// cached; `bench/top-b` has the same layers but /var/lib/dpkg on top instead. Starting top-b
    /// with automatic matching takes the shared layers from top-a's cache and pulls the top one.
    func runChangedTop() async throws {
        let imcPath = URL(fileURLWithPath: imc).standardizedFileURL.path
        let bench = CommandLine.arguments[0]
        let registry = try await DockerRegistry.start()
        defer { registry.stop() }
        var sizes: [String: Int64] = [:]
        for (name, top) in [("top-a", "etc"), ("top-b", "var/lib/dpkg")] {
            sizes[name] = try pushImage(bench, registry: registry.host, name: name, layers: ["usr/bin", "usr/share", top])
        }
        let root = work + "/startup-runs"
        let serve = try await freshService(imcPath, root: root, registry: registry.host)
        defer { serve.stop() }
        let client = APIClient(serve.settings)
        var create = CreateImageCacheRequest(Images: ["\(registry.host)/bench/top-a:v1"])
        create.RegistryHttpEndPointList = [registry.host]
        let built = try await client.waitForBuild(try await client.send(create).ImageCacheId)
        guard built.Status == "Ready" else { throw BenchError("the cache of top-a failed: \(built.Events.map(\.Message))") }
        try await Task.sleep(for: .seconds(settleAfterBuild))
        let image = "\(registry.host)/bench/top-b:v1"
        let chosen = ["imc, layers from a cache", "imc, no cache", "podman run"]
        var results: [String: [Timing]] = [:]
        for round in 1...runs {
            for (n, path) in (round % 2 == 1 ? chosen : chosen.reversed()).enumerated() {
                try await settleDisk(serve.dataRoot)
                let t: Timing
                switch path {
                case "podman run": t = try podmanRun(image, dir: "\(root)/podman-\(round)-\(n)", registry: registry.host)
                default: t = try await imcRun(client, image, cache: path != "imc, no cache", name: "top-\(round)-\(n)")
                }
                results[path, default: []].append(t)
                print(String(format: "round %d  %-26@ %8.1f ms", round, path as NSString, t.wall * 1000))
            }
        }
        try await client.shutdown()
        let medians = chosen.map { Measure.median((results[$0] ?? []).map(\.wall)) }
        var report = "| bench/top-b (\(mb(sizes["top-b"] ?? 0)) unpacked) | median (runs) |\n|---|---|\n"
        for (path, median) in zip(chosen, medians) {
            let runs = (results[path] ?? []).map { String(format: "%.0f", $0.wall * 1000) }.joined(separator: ", ")
            report += String(format: "| %@ | %.0f ms (%@) |\n", path, median * 1000, runs)
        }
        report += String(
            format: "\nCold pull / layers from a cache: %.1fx; podman / layers from a cache: %.1fx.\n", medians[1] / medians[0],
            medians[2] / medians[0])
        print(report)
        if let markdown { try report.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }

    /// Pushes `bench/NAME:v1` (busybox under the directories' layers); returns its unpacked size.
    func pushImage(_ bench: String, registry: String, name: String, layers: [String]) throws -> Int64 {
        let out = try Measure.shell(
            "\(bench) push-image --registry \(registry) --work \(work) --repository bench/\(name) "
                + layers.map { "--layer \($0)" }.joined(separator: " "))
        let size = Int64(out.split(separator: " ").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "0") ?? 0
        print("pushed bench/\(name): \(mb(size)) unpacked")
        return size
    }

    /// `imc serve` on an empty data root under `root`, speaking plain HTTP to the registry.
    func freshService(_ imcPath: String, root: String, registry: String) async throws -> ServeProcess {
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return try await ServeProcess(imc: imcPath, dataRoot: root + "/service", builders: 1, extraArguments: ["--plain-http", registry])
    }

    /// Creates an instance and waits until its container runs; deletes it afterwards.
    func imcRun(_ client: APIClient, _ image: String, cache: Bool, name: String) async throws -> Timing {
        var request = CreateEKSContainerInstancesRequest(Containers: [Container(Name: "main", Image: image)])
        request.EksCiName = name
        request.RestartPolicy = "Never"
        request.TerminationGracePeriodSeconds = 0
        request.RuntimeClassName = runtimeClass
        request.VpcId = vpc
        if cache { request.AutoMatchImageCache = true }
        let t0 = ContinuousClock.now
        let id = try await client.send(request).EksCiIds.first ?? ""
        var instance: EksCi?
        while true {
            instance = try await client.instance(id)
            let status = instance?.Status ?? ""
            if status == "Running" { break }
            if status == "Failed" || status == "Succeeded" {
                throw BenchError("instance \(id) ended \(status): \(instance?.StatusMessage ?? "")")
            }
            try await Task.sleep(for: .milliseconds(pollMs))
        }
        let wall = (ContinuousClock.now - t0).seconds
        let result = instance?.ImageCacheResult
        guard result == (cache ? "ImageCacheUsed" : "ImageCacheOff") else { throw BenchError("instance \(id): \(result ?? "no result")") }
        let started = instance?.StartupPhases.first { $0.Name == "Started:main" }
        let server = started.map { $0.Milliseconds / 1000 }
        var phases: [String: Double] = [:]
        for phase in instance?.StartupPhases ?? [] {
            let name =
                phase.Name.hasPrefix("ImageReady:")
                ? "ImageReady" : phase.Name == "Created:main" ? "ContainerCreated" : phase.Name.replacingOccurrences(of: ":main", with: "")
            phases[name] = phase.Milliseconds
        }
        try await client.deleteInstancesAndWait([id], poll: .milliseconds(50))
        return Timing(wall: wall, server: server, phases: phases)
    }

    /// `podman run -d` of the image into an empty store (a cold pull, then the container).
    func podmanRun(_ image: String, dir: String, registry: String) throws -> Timing {
        let base = [
            "/usr/bin/podman", "--root", dir + "/root", "--runroot", dir + "/run", "--storage-driver", "overlay", "--events-backend",
            "none",
            "--runtime", "/usr/sbin/runc",
        ]
        let m = try Measure.run(
            base + [
                "run", "-d", "--tls-verify=false", "--net", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--name",
                "bench", image,
            ], outputFile: dir + ".out")
        guard m.status == 0 else { throw BenchError("podman run failed (\(m.status)): \(m.output.prefix(300))") }
        _ = try? Measure.shell(
            "\(base.joined(separator: " ")) rm -f -t 0 bench >/dev/null 2>&1; \(base.joined(separator: " ")) system reset -f >/dev/null 2>&1; rm -rf \(dir)"
        )
        return Timing(wall: m.seconds, server: nil)
    }
}

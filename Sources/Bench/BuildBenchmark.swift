import ArgumentParser
import Foundation
import IMCAPI
import IMCClient
import IMCTestSupport

/// The time to build a cache of the pull benchmark's image through `imc serve`, against the
/// pull engine alone (`imc pull`) and `podman pull` of the same image from the same registry:
/// the build's own overhead (disk, manifest, snapshot) as a share of the pull.
struct BuildBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build", abstract: "Benchmark building a cache against imc pull and podman pull.")

    @Option(help: "Rounds.") var runs = 3
    @Option(help: "Where the image's tarballs (shared with imc-bench pull) and the runs go.") var work = "/var/tmp/imc-bench"
    @Option(help: "The imc binary.") var imc = ".build/release/imc"
    @Option(help: "Directories of / to make the layers of.") var layer: [String] = ["usr/share", "usr/bin", "usr/lib/x86_64-linux-gnu"]
    @Option(help: "Write the results as Markdown to this file.") var markdown: String?

    func run() async throws {
        let imcPath = URL(fileURLWithPath: imc).standardizedFileURL.path
        var prepare = try PullBenchmark.parse(["--work", work] + layer.flatMap { ["--layer", $0] })
        prepare.runs = 1
        _ = try prepare.prepareLayers()
        let registry = try await DockerRegistry.start()
        let reference = "\(registry.host)/bench/usr:v1"
        try Measure.shell(
            "\(CommandLine.arguments[0]) push-layers --registry \(registry.host) --work \(work) "
                + layer.map { "--layer \($0)" }.joined(separator: " "))
        let root = work + "/build-runs"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)

        let serve = try await ServeProcess(imc: imcPath, dataRoot: root + "/service", builders: 1)
        defer { serve.stop() }
        let client = APIClient(serve.settings)
        var build: [Double] = []
        var pull: [Double] = []
        var podman: [Double] = []
        for round in 1...runs {
            try resetCaches()
            let t = ContinuousClock.now
            var create = CreateImageCacheRequest(Images: [reference])
            create.RegistryHttpEndPointList = [registry.host]
            create.ImageCacheName = "bench-\(round)"
            let id = try await client.send(create).ImageCacheId
            while true {
                let cache = try await client.cache(id)
                if cache?.Status == "Ready" { break }
                if cache?.Status == "Failed" { throw BenchError("the build failed: \(cache?.Events.map(\.Message) ?? [])") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let built = (ContinuousClock.now - t).seconds
            build.append(built)
            try resetCaches()
            let p = try Measure.run(
                [imcPath, "pull", reference, "--plain-http", registry.host, "--dest", "\(root)/pull-\(round)", "--json"],
                outputFile: "\(root)/pull-\(round).out")
            pull.append(p.seconds)
            guard p.status == 0 else { throw BenchError("imc pull failed: \(p.output.prefix(300))") }
            try resetCaches()
            let q = try Measure.run(
                [
                    "/usr/bin/podman", "--root", "\(root)/podman-\(round)/root", "--runroot", "\(root)/podman-\(round)/run",
                    "--storage-driver", "overlay", "--events-backend", "none", "pull", "--quiet", "--tls-verify=false", reference,
                ],
                outputFile: "\(root)/podman-\(round).out")
            podman.append(q.seconds)
            guard q.status == 0 else { throw BenchError("podman pull failed") }
            print(String(format: "round %d: build %.2f s, imc pull %.2f s, podman pull %.2f s", round, built, p.seconds, q.seconds))
        }
        try await client.shutdown()
        registry.stop()
        let b = Measure.median(build)
        let p = Measure.median(pull)
        let q = Measure.median(podman)
        let report = """
            | | runs (s) | median (s) |
            |---|---|---|
            | build a cache (CreateImageCache to Ready, through imc serve) | \(build.map { String(format: "%.2f", $0) }.joined(separator: ", ")) | \(String(format: "%.2f", b)) |
            | imc pull (the pull engine alone) | \(pull.map { String(format: "%.2f", $0) }.joined(separator: ", ")) | \(String(format: "%.2f", p)) |
            | podman pull | \(podman.map { String(format: "%.2f", $0) }.joined(separator: ", ")) | \(String(format: "%.2f", q)) |

            The build's overhead over the pull engine (disk creation, manifest, snapshot, API polling every 20 ms): \(String(format: "%.1f", (b - p) / p * 100))% of the pull. Building the cache is \(String(format: "%.1f", q / b))x faster than podman pull.

            """
        print(report)
        if let markdown { try report.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }

    /// Every run starts with no dirty pages and an empty page cache.
    func resetCaches() throws {
        sync()
        try "3\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)
    }
}

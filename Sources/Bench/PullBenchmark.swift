import ArgumentParser
import Foundation
import IMCModel
import IMCPull
import IMCRegistry
import IMCTestSupport
import NIOCore

/// `imc pull` against `podman pull`, and `imc pull --download-only` against `skopeo copy`, on a
/// realistic image (tarballs of this machine's /usr/share, /usr/bin and
/// /usr/lib/x86_64-linux-gnu, gzip) served by Debian's docker-registry on loopback. Runs
/// alternate, each into a fresh directory; medians and ratios are printed and, with
/// `--markdown`, written for BENCHMARKS.md.
struct PullBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Benchmark imc pull against podman and skopeo.")

    @Option(help: "Rounds; each round runs every tool once.")
    var runs = 5

    @Option(help: "Where the image's tarballs and the runs' directories go.")
    var work = "/var/tmp/imc-bench"

    @Option(help: "The imc binary to measure.")
    var imc = ".build/release/imc"

    @Option(help: "Directories of / to make the layers of, one layer each.")
    var layer: [String] = ["usr/share", "usr/bin", "usr/lib/x86_64-linux-gnu"]

    @Option(help: "Write the results as Markdown to this file.")
    var markdown: String?

    @Option(help: "Seconds to let the disk settle after removing the previous runs.")
    var settle = 60

    @Flag(help: "Do not drop the page cache before each run.")
    var keepCaches = false

    @Flag(help: "Skip podman and skopeo (imc only).")
    var imcOnly = false

    func run() async throws {
        let imcPath = URL(fileURLWithPath: imc).standardizedFileURL.path
        guard FileManager.default.isExecutableFile(atPath: imcPath) else {
            throw BenchError("no imc binary at \(imcPath); build it with swift build -c release")
        }
        try FileManager.default.createDirectory(atPath: work + "/layers", withIntermediateDirectories: true)
        let layers = try prepareLayers()
        let registry = try await DockerRegistry.start()
        let reference = "\(registry.host)/bench/usr:v1"
        // The push holds the blobs in memory; it runs in a child process so that this process
        // stays small: a spawned command's peak RSS starts from its parent's.
        try Measure.shell(
            "\(CommandLine.arguments[0]) push-layers --registry \(registry.host) --work \(work) "
                + layer.map { "--layer \($0)" }.joined(separator: " "))
        let unpacked = layers.reduce(0) { $0 + $1.tarSize }
        let compressed = layers.reduce(0) { $0 + $1.gzSize }
        print(
            "image \(reference): \(layers.count) gzip layers, \(mb(compressed)) compressed, \(mb(unpacked)) unpacked, \(layers.reduce(0) { $0 + $1.entries }) entries"
        )

        // The runs of the last benchmark are removed now, not when it ended, and the disk is
        // given time to settle: right after a large tree is deleted this disk is slow for a minute.
        let runsRoot = work + "/runs"
        if FileManager.default.fileExists(atPath: runsRoot) {
            print("removing the previous runs and letting the disk settle for \(settle) s...")
            try FileManager.default.removeItem(atPath: runsRoot)
            sync()
            try await Task.sleep(nanoseconds: UInt64(settle) * 1_000_000_000)
        }
        try FileManager.default.createDirectory(atPath: runsRoot, withIntermediateDirectories: true)
        var results: [String: [Measurement]] = [:]
        let tools: [(String, (String) -> [String])] = [
            ("imc pull", { [imcPath, "pull", reference, "--plain-http", registry.host, "--dest", $0, "--json"] }),
            (
                "podman pull",
                {
                    [
                        "/usr/bin/podman", "--root", $0 + "/root", "--runroot", $0 + "/run", "--storage-driver", "overlay",
                        "--events-backend", "none", "pull", "--quiet", "--tls-verify=false", reference,
                    ]
                }
            ),
            (
                "imc pull --download-only",
                { [imcPath, "pull", reference, "--plain-http", registry.host, "--dest", $0, "--download-only", "--json"] }
            ),
            (
                "skopeo copy",
                { ["/usr/bin/skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://\(reference)", "oci:\($0):bench"] }
            ),
        ]
        for round in 1...runs {
            // Alternate the order each round so neither tool always runs on a warmer machine.
            let order = round % 2 == 1 ? tools : tools.reversed()
            for (name, argv) in order where !imcOnly || name.hasPrefix("imc") {
                let dir = "\(runsRoot)/\(name.replacingOccurrences(of: " ", with: "_"))-\(round)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                // Every run starts from the same state: no dirty pages (no tool pays for another's
                // writeback) and, unless told otherwise, an empty page cache (no tool pays for
                // reclaiming the cache another one filled).
                sync()
                if !keepCaches { try "3\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8) }
                var m = try Measure.run(argv(dir), outputFile: dir + ".out")
                guard m.status == 0 else { throw BenchError("\(name) failed with status \(m.status): \(m.output.prefix(500))") }
                // What it still takes to make the result durable (imc syncs itself; the others do not).
                let flushStart = ContinuousClock.now
                sync()
                m.flushSeconds = (ContinuousClock.now - flushStart).seconds
                results[name, default: []].append(m)
                print(
                    String(
                        format: "round %d  %-26@ %7.2f s  (+ %5.2f s to sync)  peak %6.1f MiB", round, name as NSString, m.seconds,
                        m.flushSeconds, Double(m.peakRSSKiB) / 1024))
            }
        }
        registry.stop()
        let report = Report(
            reference: reference, layers: layers, results: results, runs: runs, command: CommandLine.arguments.joined(separator: " "))
        print(report.markdown)
        if let markdown { try report.markdown.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }

    struct Layer {
        var path: String
        var gz: String
        var diffID: Digest
        var digest: Digest
        var tarSize: Int64
        var gzSize: Int64
        var entries: Int
    }

    /// Makes (once, then reuses) a gzip tarball of each directory, with its digests.
    func prepareLayers() throws -> [Layer] {
        try FileManager.default.createDirectory(atPath: work + "/layers", withIntermediateDirectories: true)
        return try layer.map { dir in
            let name = dir.replacingOccurrences(of: "/", with: "_")
            let gz = "\(work)/layers/\(name).tar.gz"
            let meta = "\(work)/layers/\(name).meta"
            if !FileManager.default.fileExists(atPath: meta) {
                print("making layer \(dir) (tar | pigz, once)...")
                try Measure.shell(
                    "tar --numeric-owner --xattrs -C / -cf - \(dir) | tee >(sha256sum | cut -d' ' -f1 > \(meta).diff) >(wc -c > \(meta).size) | pigz -6 > \(gz).tmp && sync && mv \(gz).tmp \(gz) && "
                        + "sha256sum \(gz) | cut -d' ' -f1 > \(meta).digest && tar -tzf \(gz) | wc -l > \(meta).entries && "
                        + "printf '%s %s %s\\n' $(cat \(meta).diff) $(cat \(meta).size) $(cat \(meta).entries) > \(meta)")
            }
            let fields = try String(contentsOfFile: meta, encoding: .utf8).split(separator: " ").map {
                String($0).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let digest = try String(contentsOfFile: meta + ".digest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let attributes = try FileManager.default.attributesOfItem(atPath: gz)
            return Layer(
                path: dir, gz: gz, diffID: try Digest(parsing: "sha256:" + fields[0]), digest: try Digest(parsing: "sha256:" + digest),
                tarSize: Int64(fields[1]) ?? 0, gzSize: (attributes[.size] as? Int64) ?? 0, entries: Int(fields[2]) ?? 0)
        }
    }

}

/// Pushes the benchmark image's layers, a config and a manifest with imc's own push code.
struct PushLayers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push-layers", abstract: "Push the benchmark image (used by imc-bench pull).")

    @Option var registry: String
    @Option var work: String
    @Option var layer: [String]

    func run() async throws {
        var prepare = try PullBenchmark.parse(["--work", work] + layer.flatMap { ["--layer", $0] })
        prepare.runs = 1
        try await push(try prepare.prepareLayers(), to: registry)
    }

    func push(_ layers: [PullBenchmark.Layer], to host: String) async throws {
        let client = RegistryClient(config: RegistryConfig(plainHTTPHosts: [host]))
        do {
            for l in layers {
                let data = try Data(contentsOf: URL(fileURLWithPath: l.gz))
                try await client.pushBlob(host: host, repository: "bench/usr", bytes: ByteBuffer(data: data), digest: l.digest)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let config = try encoder.encode(ImageConfig(platform: .host, diffIDs: layers.map(\.diffID)))
            let configDigest = try await client.pushBlob(host: host, repository: "bench/usr", bytes: ByteBuffer(data: config))
            let manifest = ImageManifest(
                mediaType: MediaType.dockerManifest,
                config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(config.count)),
                layers: layers.map { Descriptor(mediaType: MediaType.dockerLayerGzip, digest: $0.digest, size: $0.gzSize) })
            try await client.pushManifest(
                host: host, repository: "bench/usr", reference: "v1", data: try encoder.encode(manifest),
                mediaType: MediaType.dockerManifest)
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

func mb(_ bytes: Int64) -> String { String(format: "%.0f MB", Double(bytes) / 1e6) }

/// The benchmark's results as Markdown.
struct Report {
    var reference: String
    var layers: [PullBenchmark.Layer]
    var results: [String: [Measurement]]
    var runs: Int
    var command: String

    var markdown: String {
        func med(_ name: String) -> Double { Measure.median(results[name, default: []].map(\.seconds)) }
        func peak(_ name: String) -> Double { Double(results[name, default: []].map(\.peakRSSKiB).max() ?? 0) / 1024 }
        var s =
            "Image: \(layers.count) gzip layers ("
            + layers.map { "/\($0.path): \(mb($0.gzSize)) → \(mb($0.tarSize)), \($0.entries) entries" }.joined(separator: "; ") + ")\n\n"
        s += "| tool | runs (s) | median (s) | median until durable (s) | peak RSS (MiB) |\n|---|---|---|---|---|\n"
        for name in ["imc pull", "podman pull", "imc pull --download-only", "skopeo copy"] where results[name] != nil {
            let times = results[name, default: []].map { String(format: "%.2f", $0.seconds) }.joined(separator: ", ")
            let durable = Measure.median(results[name, default: []].map { $0.seconds + $0.flushSeconds })
            s += String(format: "| %@ | %@ | %.2f | %.2f | %.1f |\n", name as NSString, times as NSString, med(name), durable, peak(name))
        }
        if results["podman pull"] != nil {
            s += String(
                format: "\nimc pull is **%.1fx** faster than podman pull (median wall clock).", med("podman pull") / med("imc pull"))
        }
        if results["skopeo copy"] != nil {
            s += String(
                format: " imc download-only is **%.2fx** the speed of skopeo copy.", med("skopeo copy") / med("imc pull --download-only"))
        }
        return s + "\n"
    }
}

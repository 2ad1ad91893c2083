import ArgumentParser
import Foundation
import IMCContent
import IMCDocuments
import IMCModel
import IMCPull
import IMCRegistry
import IMCUnpack
import Logging

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull an image and unpack its layers into overlay-ready directories.",
        discussion: """
            DIR is an OCI image layout (skopeo inspect oci:DIR:REF reads it) with the unpacked
            layers under DIR/layers/sha256/<diff-id>. Exit codes: 0 done, 2 bad reference,
            3 not found, 4 unauthorized, 5 unreachable, 6 no such platform, 7 bad image,
            8 disk full, 9 I/O error, 10 registry error, 64 usage.
            """)

    @Argument(help: "The image reference, as docker takes it (nginx, localhost:5000/a/b:tag, ...@sha256:...).")
    var reference: String

    @Option(help: "The platform to pull from a multi-platform image (default: this machine's).")
    var platform: String?

    @Option(help: "The directory to pull into.")
    var dest: String = "/var/lib/imc/images"

    @Option(
        help:
            "Registry settings: a docker config.json, a kubernetes.io/dockerconfigjson Secret (JSON), or imc's own file with ImageRegistryCredentials, RegistryHttpEndPointList and RegistrySkipVerifyList."
    )
    var registryConfig: String?

    @Option(help: "Do not verify this registry's TLS certificate (repeatable).")
    var insecure: [String] = []

    @Option(help: "Speak plain HTTP to this registry (repeatable).")
    var plainHttp: [String] = []

    @Flag(help: "Download and verify the blobs only; do not unpack.")
    var downloadOnly = false

    @Flag(help: "Keep the compressed layer blobs in DIR as well as the unpacked layers.")
    var keepBlobs = false

    @Option(help: "Seconds to keep trying to connect to a registry.")
    var connectTimeout: Int = 10

    @Option(help: "Seconds without a byte after which a transfer is cut and resumed.")
    var stallTimeout: Int = 30

    @Option(help: "Layers fetched at once.")
    var concurrency: Int = 3

    @Flag(help: "Print one JSON summary on standard output instead of progress.")
    var json = false

    @Flag(help: "Log every request and retry.")
    var verbose = false

    func validate() throws {
        guard (1...16).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 16, not \(concurrency)") }
        guard connectTimeout > 0, stallTimeout > 0 else { throw ValidationError("--connect-timeout and --stall-timeout must be positive") }
    }

    func run() async throws {
        let output = Output(json: json)
        do {
            let image = try ImageReference(parsing: reference)
            var options = PullOptions()
            options.platform = try platform.map { try Platform(parsing: $0) }
            options.downloadOnly = downloadOnly
            options.keepLayerBlobs = keepBlobs
            options.layerConcurrency = concurrency
            let config = try loadRegistryConfig()
            var logger = Logger(label: "imc")
            logger.logLevel = verbose ? .debug : .warning
            var clientOptions = RegistryClientOptions()
            clientOptions.connectTimeout = .seconds(Int64(connectTimeout))
            clientOptions.stallTimeout = .seconds(Int64(stallTimeout))
            let client = RegistryClient(config: config, options: clientOptions, logger: logger)
            let store = try OCILayoutStore(root: dest)
            let layers = try LayerStore(root: dest + "/layers")
            let puller = Puller(client: client, store: store, layers: layers, logger: logger)
            let progress = ProgressDisplay(reference: image.description, mode: json ? .silent : (isatty(2) != 0 ? .bars : .lines))
            let result: PullResult
            do {
                let pullOptions = options
                result = try await progress.run { try await puller.pull(image, options: pullOptions, progress: progress.handle) }
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
            output.success(result)
        } catch {
            let failure = PullError.from(error)
            output.failure(failure)
            throw ExitCode(failure.exitCode)
        }
    }

    private func loadRegistryConfig() throws -> RegistryConfig {
        var config = RegistryConfig()
        let env = ProcessInfo.processInfo.environment
        let dockerConfig = (env["DOCKER_CONFIG"].map { $0 + "/config.json" }) ?? (env["HOME"].map { $0 + "/.docker/config.json" })
        if let dockerConfig, registryConfig == nil, let data = FileManager.default.contents(atPath: dockerConfig) {
            config.merge(try RegistryConfig.parse(data, source: dockerConfig))
        }
        if let registryConfig {
            guard let data = FileManager.default.contentsOfFile(registryConfig) else {
                throw PullError(.io, "--registry-config \(registryConfig): cannot read the file")
            }
            config.merge(try RegistryConfig.parse(data, source: "--registry-config \(registryConfig)"))
        }
        config.merge(RegistryConfig(plainHTTPHosts: Set(plainHttp), skipVerifyHosts: Set(insecure)))
        return config
    }
}

/// Where results and errors go: JSON on stdout, or text on stderr.
struct Output {
    var json: Bool

    func success(_ result: PullResult) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(result) { print(String(decoding: data, as: UTF8.self)) }
        } else {
            let reused = result.layers.filter(\.reused).count
            print(
                "\(result.reference) \(result.manifestDigest) \(result.platform): \(result.layerCount) layers"
                    + (reused > 0 ? " (\(reused) already present)" : "")
                    + ", \(formatBytes(result.compressedBytes)) downloaded, \(formatBytes(result.unpackedBytes)) unpacked in \(String(format: "%.1f", result.totalSeconds)) s"
            )
        }
    }

    func failure(_ error: PullError) {
        if json {
            let object: JSONValue = [
                "error": [
                    "code": .string(error.code.rawValue), "message": .string(error.message), "exitCode": .number(Double(error.exitCode)),
                ]
            ]
            print(String(decoding: object.bytes, as: UTF8.self))
        }
        FileHandle.standardError.write(Data("imc: error: \(error.message)\n".utf8))
    }
}

func formatBytes(_ n: Int64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var v = Double(n)
    var u = 0
    while v >= 1000 && u < units.count - 1 {
        v /= 1000
        u += 1
    }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}

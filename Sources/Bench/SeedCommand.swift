import ArgumentParser
import IMCModel
import IMCRegistry
import IMCTestSupport

/// Pushes the demo images, made from code, to a registry.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "seed", abstract: "Push sample images made from code to a registry.")

    @Option(help: "The registry, host:port, spoken to over plain HTTP.")
    var registry: String = "127.0.0.1:5000"

    func run() async throws {
        let client = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry]))
        do {
            let hello = try TestImage(layers: SampleLayers.rich(), compression: [.gzip, .zstd, .gzip])
            try await client.push(hello, host: registry, repository: "demo/hello", tag: "latest")
            let amd = try TestImage(layers: SampleLayers.rich(), platform: Platform(os: "linux", architecture: "amd64"))
            var arm = SampleLayers.rich()
            arm[2].file("etc/arch", "arm64\n")
            let armImage = try TestImage(layers: arm, platform: Platform(os: "linux", architecture: "arm64"))
            try await client.push(try TestIndex([amd, armImage]), host: registry, repository: "demo/multi", tag: "latest")
            let app = try RunnableImages.image(
                files: ["app/message": "hello from an image cache\n"],
                cmd: ["/bin/sh", "-c", "cat /app/message; echo \"running as $(id -u) in $(pwd)\""])
            try await client.push(app, host: registry, repository: "demo/app", tag: "latest")
            print(
                "seeded \(registry): demo/hello:latest (3 layers: gzip, zstd, gzip), demo/multi:latest (linux/amd64, linux/arm64), demo/app:latest (busybox, runnable)"
            )
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

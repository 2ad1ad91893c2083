import ArgumentParser

/// imc pull against podman pull, and imc download-only against skopeo copy (written next).
struct PullBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Benchmark imc pull against podman and skopeo.")

    func run() async throws {
        throw ValidationError("not built yet")
    }
}

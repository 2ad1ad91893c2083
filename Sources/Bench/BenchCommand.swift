import ArgumentParser

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imc-bench",
        abstract: "Benchmarks and demo data for imc.",
        subcommands: [
            SeedCommand.self, PullBenchmark.self, PushLayers.self, ServiceBenchmark.self, BuildBenchmark.self, PushImage.self,
            StartupBenchmark.self, LoadBenchmark.self, KubernetesBenchmark.self, WorkloadBenchmark.self,
        ])
}

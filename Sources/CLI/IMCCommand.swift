import ArgumentParser

@main
struct IMCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imc",
        abstract: "Container image caches: images pulled once into a disk, started from in seconds.",
        subcommands: [
            PullCommand.self, ServeCommand.self, CacheCommand.self, ApplyCommand.self, DeleteCommand.self, GetCommand.self, RunCommand.self,
            InstanceCommand.self, BillCommand.self, KubeconfigCommand.self, BuildSandboxCommand.self,
        ])
}

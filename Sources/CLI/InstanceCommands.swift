import ArgumentParser
import Foundation
import IMCAPI
import IMCClient
import IMCInstance

/// `imc run`: creates a container instance (CreateEKSContainerInstances) from a Pod manifest or
/// from an image and a command, and waits until its containers run (or it ends).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a container instance from a Pod manifest (-f) or from IMAGE [-- COMMAND...], using an image cache when asked.")

    @OptionGroup var api: APIOptions
    @OptionGroup var secrets: SecretsOptions
    @Option(name: .shortAndLong, help: "A Pod manifest (YAML) with the image-cache annotations.") var file: String?
    @Option(help: "The instance's name.") var name: String?
    @Option(help: "auto, off, or an image cache id (imc-...): the use-image-cache annotation; unsaid, the account's default.")
    var useImageCache: String?
    @Option(help: "Always (a Pod's default), OnFailure or Never.") var restart = "Always"
    @Option(name: .customLong("env"), help: "NAME=VALUE for the container (repeatable).") var env: [String] = []
    @Option(help: "GiB of the image cache disk (grows it, never shrinks).") var diskSize: Int?
    @Option(help: "Minutes the disk is kept after the instance ends, for reuse.") var retainMinutes: Int?
    @Option(help: "perfect (a cache must hold every image) or partial (the one holding the most; the rest are pulled).")
    var imageCacheMatch: String?
    @Option(help: "With a partial match, at least this many of the images in the cache.") var minMatchedImages: Int?
    @Flag(help: "When no cache matches, build one of these images for the next instance.") var autoCreateCache = false
    @Option(name: .customLong("plain-http"), help: "A registry (HOST[:PORT]) spoken to over plain HTTP when pulling (repeatable).")
    var plainHTTP: [String] = []
    @Flag(help: "Return at once with the instance id.") var detach = false
    @Argument(help: "IMAGE, then -- and the command to run.") var words: [String] = []

    func validate() throws {
        guard RestartPolicy(rawValue: restart) != nil else {
            throw ValidationError("--restart must be Always, OnFailure or Never, not \(restart)")
        }
    }

    func request() throws -> CreateEKSContainerInstancesRequest {
        var r: CreateEKSContainerInstancesRequest
        if let file {
            let pod: PodManifest
            do { pod = try PodManifest.parse(try readInput(file), source: file) } catch let e as ManifestError {
                throw ValidationError(e.description)
            }
            r = pod.request
            let credentials = try secrets.credentials(for: pod.imagePullSecrets)
            if !credentials.isEmpty { r.ImageRegistryCredentials = credentials }
        } else {
            guard let image = words.first else { throw ValidationError("give -f POD.yaml or an IMAGE to run") }
            var container = Container(Name: "main", Image: image)
            if words.count > 1 { container.Commands = Array(words.dropFirst()) }
            container.EnvironmentVars = try env.map { kv in
                guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw ValidationError("--env \(kv) is not NAME=VALUE") }
                return EnvironmentVar(Name: String(kv[..<eq]), Value: String(kv[kv.index(after: eq)...]))
            }
            r = CreateEKSContainerInstancesRequest(Containers: [container])
            r.RestartPolicy = restart
            r.EksCiName = name
            if let use = useImageCache {
                switch use {
                case "auto": r.AutoMatchImageCache = true
                case "off", "none": r.AutoMatchImageCache = false
                default: r.ImageCacheId = use
                }
            }
        }
        if let diskSize { r.ImageCacheDiskSize = diskSize }
        if let retainMinutes { r.ImageCacheDiskRetainMinutes = retainMinutes }
        if let imageCacheMatch { r.ImageCacheMatch = imageCacheMatch }
        if let minMatchedImages { r.ImageCacheMinMatchedImages = minMatchedImages }
        if autoCreateCache { r.AutoCreateImageCache = true }
        if !plainHTTP.isEmpty { r.RegistryHttpEndPointList = plainHTTP }
        return r
    }

    func run() async throws {
        let r = try request()
        try await api.with { client in
            let ids = try await client.send(r).EksCiIds
            if detach {
                print(api.json ? APIOptions.render(CreateEKSContainerInstancesResponse(EksCiIds: ids)) : ids.joined(separator: "\n"))
                return
            }
            var results: [EksCi] = []
            for id in ids {
                let instance = try await InstanceCommand.waitStarted(client, id)
                results.append(instance)
                if !api.json { print(InstanceCommand.summary(instance)) }
            }
            if api.json { print(APIOptions.render(DescribeEKSContainerInstancesResponse(TotalCount: results.count, EksCis: results))) }
            if results.contains(where: { $0.Status == "Failed" }) { throw ExitCode(1) }
        }
    }
}

/// `imc instance ...`: the container instance actions.
struct InstanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instance", abstract: "List, describe, follow and delete container instances.",
        subcommands: [List.self, Describe.self, Events.self, Logs.self, Delete.self, Restart.self])

    /// Polls until the instance runs or ends.
    static func waitStarted(_ client: APIClient, _ id: String) async throws -> EksCi {
        while true {
            let instance = try await describe(client, id)
            if ["Running", "Succeeded", "Failed"].contains(instance.Status) { return instance }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func describe(_ client: APIClient, _ id: String) async throws -> EksCi {
        guard let instance = try await client.send(DescribeEKSContainerInstancesRequest(EksCiIds: [id])).EksCis.first else {
            throw APIError.resourceNotFound("EksCiId \(id) does not exist")
        }
        return instance
    }

    /// A person's view: status, the cache outcome, and where the start-up time went.
    static func summary(_ i: EksCi) -> String {
        var lines = ["\(i.EksCiId)   \(i.EksCiName)   \(i.Status)"]
        let cache = i.ImageCacheId.map { " \($0)" } ?? ""
        let disk = i.ImageCacheDiskId.map { ", disk \($0) (\(i.ImageCacheDiskSize.map(String.init) ?? "?") GiB)" } ?? ""
        lines.append("  image cache: \(i.ImageCacheResult ?? "ImageCacheOff")\(cache)\(disk)")
        if let message = i.StatusMessage { lines.append("  \(message)") }
        for c in i.InitContainers + i.Containers {
            let s = c.CurrentState
            let exit = s?.ExitCode.map { ", exit \($0)" } ?? ""
            let reason = s?.Reason.map { " (\($0))" } ?? ""
            lines.append("  container \(c.Name): \(s?.State ?? "?")\(reason)\(exit), restarts \(c.RestartCount)")
        }
        if !i.StartupPhases.isEmpty {
            lines.append("  start-up (ms from creation):")
            let widest = i.StartupPhases.map(\.Name.count).max() ?? 0
            let total = max(1, i.StartupPhases.map(\.Milliseconds).max() ?? 1)
            for ph in i.StartupPhases {
                let bar = String(repeating: "█", count: max(1, Int(ph.Milliseconds / total * 40)))
                lines.append(
                    "    \(ph.Name.padding(toLength: widest, withPad: " ", startingAt: 0))  \(String(format: "%7.1f", ph.Milliseconds))  \(bar)"
                )
            }
        }
        return lines.joined(separator: "\n")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List instances (DescribeEKSContainerInstances).")
        @OptionGroup var api: APIOptions
        @Option(help: "At most this many (1-100).") var limit = 100

        func run() async throws {
            try await api.with { client in
                let r = try await client.send(DescribeEKSContainerInstancesRequest(Limit: limit))
                if api.json { return print(APIOptions.render(r)) }
                print(
                    table(
                        ["ID", "NAME", "STATUS", "IMAGE CACHE", "RESULT", "STARTED (ms)", "AGE"],
                        r.EksCis.map { i in
                            let started = i.StartupPhases.first { StartupPhase.isContainerStart($0.Name) }
                            return [
                                i.EksCiId, i.EksCiName, i.Status, i.ImageCacheId ?? "-",
                                (i.ImageCacheResult ?? "-").replacingOccurrences(of: "ImageCache", with: ""),
                                started.map { "\(Int($0.Milliseconds))" } ?? "-", age(i.CreationTime),
                            ]
                        }))
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an instance: containers, cache outcome, start-up phases.")
        @OptionGroup var api: APIOptions
        @Argument var id: String

        func run() async throws {
            try await api.with { client in
                let i = try await InstanceCommand.describe(client, id)
                print(api.json ? APIOptions.render(i) : InstanceCommand.summary(i))
            }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An instance's events (DescribeEKSContainerInstanceEvent).")
        @OptionGroup var api: APIOptions
        @Argument var id: String

        func run() async throws {
            try await api.with { client in
                let r = try await client.send(DescribeEKSContainerInstanceEventRequest(EksCiId: id, Limit: 200))
                if api.json { return print(APIOptions.render(r)) }
                print(
                    table(
                        ["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"],
                        r.Events.map { [age($0.LastTimestamp), $0.Type, $0.Reason, "\($0.Count)", $0.Message] }))
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A container's output (DescribeEksContainerInstanceLog).")
        @OptionGroup var api: APIOptions
        @Argument var id: String
        @Option(name: .shortAndLong, help: "The container (default: the first).") var container: String?
        @Option(help: "Only the last N lines.") var tail: Int?

        func run() async throws {
            try await api.with { client in
                let r = try await client.send(DescribeEksContainerInstanceLogRequest(EksCiId: id, ContainerName: container, Tail: tail))
                if api.json { return print(APIOptions.render(r)) }
                FileHandle.standardOutput.write(Data(r.LogContent.utf8))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete instances: containers stopped, disks released (or retained).")
        @OptionGroup var api: APIOptions
        @Argument var ids: [String]
        @Flag(help: "Wait until they are gone.") var wait = false

        func run() async throws {
            try await api.with { client in
                _ = try await client.send(DeleteEKSContainerInstancesRequest(EksCiIds: ids))
                if wait {
                    for id in ids {
                        while (try? await InstanceCommand.describe(client, id)) != nil { try await Task.sleep(for: .milliseconds(100)) }
                    }
                }
                if !api.json { print(ids.map { "\($0) deleted" }.joined(separator: "\n")) }
            }
        }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restart instances' containers (RestartEKSContainerInstances).")
        @OptionGroup var api: APIOptions
        @Argument var ids: [String]

        func run() async throws {
            try await api.with { client in
                _ = try await client.send(RestartEKSContainerInstancesRequest(EksCiIds: ids))
                if !api.json { print(ids.map { "\($0) restarting" }.joined(separator: "\n")) }
            }
        }
    }
}

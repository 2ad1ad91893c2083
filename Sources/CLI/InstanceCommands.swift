import ArgumentParser
import Foundation
import IMCAPI
import IMCClient

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
    @Option(help: "auto, or an image cache id (imc-...): the use-image-cache annotation.") var useImageCache: String?
    @Option(help: "Always, OnFailure or Never.") var restart = "Never"
    @Option(name: .customLong("env"), help: "NAME=VALUE for the container (repeatable).") var env: [String] = []
    @Option(help: "GiB of the image cache disk (grows it, never shrinks).") var diskSize: Int?
    @Option(help: "Minutes the disk is kept after the instance ends, for reuse.") var retainMinutes: Int?
    @Option(name: .customLong("plain-http"), help: "A registry (HOST[:PORT]) spoken to over plain HTTP when pulling (repeatable).")
    var plainHTTP: [String] = []
    @Flag(help: "Return at once with the instance id.") var detach = false
    @Argument(help: "IMAGE, then -- and the command to run.") var words: [String] = []

    func parameters() throws -> [String: Any] {
        var p: [String: Any]
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("-f \(file): cannot read the file")
            }
            let pod: PodManifest
            do { pod = try PodManifest.parse(text, source: file) } catch let e as ManifestError { throw ValidationError(e.description) }
            p = pod.parameters
            let credentials = try secrets.credentials(for: pod.imagePullSecrets)
            if !credentials.isEmpty { p["ImageRegistryCredentials"] = credentials }
        } else {
            guard let image = words.first else { throw ValidationError("give -f POD.yaml or an IMAGE to run") }
            var container: [String: Any] = ["Name": "main", "Image": image]
            if words.count > 1 { container["Commands"] = Array(words.dropFirst()) }
            container["EnvironmentVars"] = try env.map { kv -> [String: String] in
                guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw ValidationError("--env \(kv) is not NAME=VALUE") }
                return ["Name": String(kv[..<eq]), "Value": String(kv[kv.index(after: eq)...])]
            }
            p = ["Containers": [container], "RestartPolicy": restart]
            if let name { p["EksCiName"] = name }
            if let use = useImageCache {
                if use == "auto" { p["AutoMatchImageCache"] = true } else { p["ImageCacheId"] = use }
            }
        }
        if let diskSize { p["ImageCacheDiskSize"] = diskSize }
        if let retainMinutes { p["ImageCacheDiskRetainMinutes"] = retainMinutes }
        if !plainHTTP.isEmpty { p["RegistryHttpEndPointList"] = plainHTTP }
        return p
    }

    func run() async throws {
        let p = try parameters()
        try await api.with { client in
            let created = try await client.call("CreateEKSContainerInstances", p)
            let ids = created["EksCiIds"] as? [String] ?? []
            if detach {
                print(api.json ? APIOptions.render(["EksCiIds": ids]) : ids.joined(separator: "\n"))
                return
            }
            var results: [[String: Any]] = []
            for id in ids {
                let instance = try await InstanceCommand.waitStarted(client, id)
                results.append(instance)
                if !api.json { print(InstanceCommand.summary(instance)) }
            }
            if api.json { print(APIOptions.render(["EksCis": results])) }
            if results.contains(where: { $0["Status"] as? String == "Failed" }) { throw ExitCode(1) }
        }
    }
}

/// `imc instance ...`: the container instance actions.
struct InstanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instance", abstract: "List, describe, follow and delete container instances.",
        subcommands: [List.self, Describe.self, Events.self, Logs.self, Delete.self, Restart.self])

    /// Polls until the instance runs or ends.
    static func waitStarted(_ client: APIClient, _ id: String) async throws -> [String: Any] {
        while true {
            let instance = try await describe(client, id)
            if ["Running", "Succeeded", "Failed"].contains(instance["Status"] as? String ?? "") { return instance }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func describe(_ client: APIClient, _ id: String) async throws -> [String: Any] {
        let r = try await client.call("DescribeEKSContainerInstances", ["EksCiIds": [id]])
        guard let instance = (r["EksCis"] as? [[String: Any]])?.first else {
            throw APIError.resourceNotFound("EksCiId \(id) does not exist")
        }
        return instance
    }

    /// A person's view: status, the cache outcome, and where the start-up time went.
    static func summary(_ i: [String: Any]) -> String {
        var lines = ["\(i["EksCiId"] ?? "")   \(i["EksCiName"] ?? "")   \(i["Status"] ?? "")"]
        let outcome = i["ImageCacheResult"] as? String ?? "ImageCacheOff"
        let cache = (i["ImageCacheId"] as? String).map { " \($0)" } ?? ""
        let disk = (i["ImageCacheDiskId"] as? String).map { ", disk \($0) (\(i["ImageCacheDiskSize"] ?? "?") GiB)" } ?? ""
        lines.append("  image cache: \(outcome)\(cache)\(disk)")
        if let message = i["StatusMessage"] as? String { lines.append("  \(message)") }
        for c in (i["InitContainers"] as? [[String: Any]] ?? []) + (i["Containers"] as? [[String: Any]] ?? []) {
            let s = c["CurrentState"] as? [String: Any] ?? [:]
            let exit = (s["ExitCode"] as? Int).map { ", exit \($0)" } ?? ""
            let reason = (s["Reason"] as? String).map { " (\($0))" } ?? ""
            lines.append("  container \(c["Name"] ?? ""): \(s["State"] ?? "?")\(reason)\(exit), restarts \(c["RestartCount"] ?? 0)")
        }
        let phases = i["StartupPhases"] as? [[String: Any]] ?? []
        if !phases.isEmpty {
            lines.append("  start-up (ms from creation):")
            let widest = phases.map { ($0["Name"] as? String ?? "").count }.max() ?? 0
            let total = max(1, phases.compactMap { ($0["Milliseconds"] as? NSNumber)?.doubleValue }.max() ?? 1)
            for ph in phases {
                let ms = (ph["Milliseconds"] as? NSNumber)?.doubleValue ?? 0
                let bar = String(repeating: "█", count: max(1, Int(ms / total * 40)))
                lines.append(
                    "    \((ph["Name"] as? String ?? "").padding(toLength: widest, withPad: " ", startingAt: 0))  \(String(format: "%7.1f", ms))  \(bar)"
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
                let r = try await client.call("DescribeEKSContainerInstances", ["Limit": limit])
                let instances = r["EksCis"] as? [[String: Any]] ?? []
                if api.json { return print(APIOptions.render(r)) }
                print(
                    table(
                        ["ID", "NAME", "STATUS", "IMAGE CACHE", "RESULT", "STARTED (ms)", "AGE"],
                        instances.map { i in
                            let started = (i["StartupPhases"] as? [[String: Any]] ?? []).first {
                                ($0["Name"] as? String ?? "").hasPrefix("Started:")
                            }
                            return [
                                i["EksCiId"] as? String ?? "", i["EksCiName"] as? String ?? "", i["Status"] as? String ?? "",
                                i["ImageCacheId"] as? String ?? "-",
                                (i["ImageCacheResult"] as? String ?? "-").replacingOccurrences(of: "ImageCache", with: ""),
                                started.map { "\($0["Milliseconds"] ?? "")" } ?? "-", age(i["CreationTime"]),
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
                let r = try await client.call("DescribeEKSContainerInstanceEvent", ["EksCiId": id, "Limit": 200])
                if api.json { return print(APIOptions.render(r)) }
                let events = r["Events"] as? [[String: Any]] ?? []
                print(
                    table(
                        ["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"],
                        events.map { e in
                            [
                                age(e["LastTimestamp"]), e["Type"] as? String ?? "", e["Reason"] as? String ?? "", "\(e["Count"] ?? 1)",
                                e["Message"] as? String ?? "",
                            ]
                        }))
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
                var p: [String: Any] = ["EksCiId": id]
                if let container { p["ContainerName"] = container }
                if let tail { p["Tail"] = tail }
                let r = try await client.call("DescribeEksContainerInstanceLog", p)
                if api.json { return print(APIOptions.render(r)) }
                FileHandle.standardOutput.write(Data((r["LogContent"] as? String ?? "").utf8))
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
                _ = try await client.call("DeleteEKSContainerInstances", ["EksCiIds": ids])
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
                _ = try await client.call("RestartEKSContainerInstances", ["EksCiIds": ids])
                if !api.json { print(ids.map { "\($0) restarting" }.joined(separator: "\n")) }
            }
        }
    }
}

import ArgumentParser
import Foundation
import IMCAPI
import IMCCache
import IMCClient
import IMCModel

/// `imc cache ...`: the image cache actions, as a client of `imc serve` over the signed API.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Create, list, inspect, change and delete image caches.",
        subcommands: [Create.self, List.self, Describe.self, Events.self, Update.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an image cache (CreateImageCache).")
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("image"), help: "An image to cache (repeatable).") var images: [String] = []
        @Option(help: "The cache's name.") var name: String?
        @Option(help: "Disk size in GiB (default 20).") var size: Int?
        @Option(help: "Days to keep it; 0 keeps it until deleted.") var retentionDays: Int?
        @Option(help: "Check the images' tags every this many minutes and rebuild when one moved (0: never).") var refreshMinutes: Int?
        @Option(help: "The platform to cache the images for (linux/amd64, linux/arm64); the host's by default.") var platform: String?
        @Option(help: "Registry credentials and settings (a docker config.json, a dockerconfigjson Secret, or imc's own file).")
        var registryConfig: String?
        @Flag(help: "Wait until the cache is Ready or Failed, printing its events.") var wait = false

        func run() async throws {
            guard !images.isEmpty else { throw ValidationError("name at least one --image") }
            var request = CreateImageCacheRequest(Images: images)
            request.ImageCacheName = name
            request.ImageCacheSize = size
            request.RetentionDays = retentionDays
            request.RefreshIntervalMinutes = refreshMinutes
            request.Platform = platform
            if let registryConfig {
                guard let data = FileManager.default.contentsOfFile(registryConfig) else {
                    throw ValidationError("--registry-config \(registryConfig): cannot read it")
                }
                let config = try RegistryConfig.parse(data, source: registryConfig)
                request.ImageRegistryCredentials = config.credentials.map {
                    ImageRegistryCredential(Server: $0.server, Username: $0.username, Password: $0.password)
                }
                if !config.plainHTTPHosts.isEmpty { request.RegistryHttpEndPointList = config.plainHTTPHosts.sorted() }
                if !config.skipVerifyHosts.isEmpty { request.RegistrySkipVerifyList = config.skipVerifyHosts.sorted() }
            }
            try await api.with { client in
                let id = try await client.send(request).ImageCacheId
                if !wait {
                    print(api.json ? APIOptions.render(CreateImageCacheResponse(ImageCacheId: id)) : id)
                    return
                }
                let cache = try await follow(client, id: id, json: api.json)
                if api.json { print(APIOptions.render(cache)) }
                if cache.Status != "Ready" { throw ExitCode(1) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List image caches (DescribeImageCaches).")
        @OptionGroup var api: APIOptions
        @Option(help: "Only caches with this name.") var name: String?

        func run() async throws {
            try await api.with { client in
                let all = try await allCaches(client, name: name)
                if api.json {
                    print(APIOptions.render(all))
                    return
                }
                print(
                    table(
                        ["ID", "NAME", "STATUS", "PROGRESS", "SIZE", "IMAGES", "CREATED", "EXPIRES", "LAST MATCHED"],
                        all.map { c in
                            [
                                c.ImageCacheId, c.ImageCacheName, c.Status, "\(c.Progress)%", "\(c.ImageCacheSize)Gi",
                                c.Images.joined(separator: ","),
                                age(c.CreationTime) + " ago", c.ExpireDateTime ?? "never",
                                c.LastMatchedTime.map { age($0) + " ago" } ?? "-",
                            ]
                        }))
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one image cache with its events.")
        @OptionGroup var api: APIOptions
        @Argument var id: String

        func run() async throws {
            try await api.with { client in print(APIOptions.render(try await fetch(client, id: id))) }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image cache's events.")
        @OptionGroup var api: APIOptions
        @Argument var id: String

        func run() async throws {
            try await api.with { client in
                let events = try await fetch(client, id: id).Events
                if api.json {
                    print(APIOptions.render(events))
                    return
                }
                print(
                    table(
                        ["LAST SEEN", "TYPE", "REASON", "MESSAGE"], events.map { [age($0.LastTimestamp), $0.Type, $0.Reason, $0.Message] }))
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an image cache (UpdateImageCache); new images or size rebuild it.")
        @OptionGroup var api: APIOptions
        @Argument var id: String
        @Option(help: "A new name.") var name: String?
        @Option(help: "New retention in days.") var retentionDays: Int?
        @Option(help: "Check the images' tags every this many minutes (0: never).") var refreshMinutes: Int?
        @Option(help: "New disk size in GiB (rebuilds).") var size: Int?
        @Option(name: .customLong("image"), help: "The new image list (repeatable; rebuilds).") var images: [String] = []

        func run() async throws {
            var request = UpdateImageCacheRequest(ImageCacheId: id)
            request.ImageCacheName = name
            request.RetentionDays = retentionDays
            request.RefreshIntervalMinutes = refreshMinutes
            request.ImageCacheSize = size
            if !images.isEmpty { request.Images = images }
            try await api.with { client in _ = try await client.send(request) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete image caches (DeleteImageCaches) and their snapshots.")
        @OptionGroup var api: APIOptions
        @Argument var ids: [String]

        func run() async throws {
            try await api.with { client in _ = try await client.send(DeleteImageCachesRequest(ImageCacheIds: ids)) }
        }
    }
}

/// Every cache of the account (or of that name), page after page.
func allCaches(_ client: APIClient, name: String? = nil) async throws -> [ImageCacheView] {
    var all: [ImageCacheView] = []
    while true {
        let page = try await client.send(DescribeImageCachesRequest(ImageCacheNames: name.map { [$0] }, Limit: 50, Offset: all.count))
        all += page.ImageCaches
        if page.ImageCaches.isEmpty || all.count >= page.TotalCount { return all }
    }
}

func fetch(_ client: APIClient, id: String) async throws -> ImageCacheView {
    guard let cache = try await client.send(DescribeImageCachesRequest(ImageCacheIds: [id])).ImageCaches.first else {
        throw APIError.resourceNotFound("ImageCacheId \(id) does not exist")
    }
    return cache
}

/// Prints a cache's new events as they come, with a progress line, until it is Ready or Failed.
func follow(_ client: APIClient, id: String, json: Bool) async throws -> ImageCacheView {
    var shown = 0
    let started = ContinuousClock.now
    let terminal = isatty(2) != 0 && !json
    while true {
        let cache = try await fetch(client, id: id)
        if !json {
            var out = terminal ? "\r\u{1B}[2K" : ""
            for e in cache.Events.dropFirst(shown) { out += "\(e.Type)\t\(e.Reason)\t\(e.Message)\n" }
            if terminal { out += BuildProgress(cache: cache).line(seconds: Int((ContinuousClock.now - started).components.seconds)) }
            FileHandle.standardError.write(Data(out.utf8))
        }
        shown = cache.Events.count
        if ["Ready", "Failed", "UpdateFailed"].contains(cache.Status) {
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            if !json { print("\(id): \(cache.Status) after \(Int((ContinuousClock.now - started).components.seconds)) s") }
            return cache
        }
        try await Task.sleep(for: .milliseconds(250))
    }
}

extension BuildProgress {
    init(cache: ImageCacheView) {
        self.init(
            events: cache.Events.map { ($0.Reason, $0.Message) }, images: cache.Images.count, ready: cache.Status == "Ready",
            percent: cache.Progress)
    }

    /// A progress line for a terminal.
    func line(seconds: Int, width: Int = 30) -> String {
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        return "[\(bar)] \(Int(fraction * 100))%  \((step ?? "waiting for a builder").prefix(70))  \(seconds) s"
    }
}

extension FileManager {
    /// A file's bytes, read as a stream so that pipes (`<(...)`, `/dev/stdin`) work too.
    func contentsOfFile(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return try? handle.readToEnd() ?? Data()
    }
}

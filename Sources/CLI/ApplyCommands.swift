import ArgumentParser
import Foundation
import IMCAPI
import IMCClient
import IMCDocuments
import IMCModel

/// Where `imagePullSecrets: [namespace/name]` are found: `DIR/namespace/name.{json,yaml,yml}`,
/// each a `kubernetes.io/dockerconfigjson` Secret.
struct SecretsOptions: ParsableArguments {
    @Option(help: "Directory of pull secrets, DIR/namespace/name.yaml (default $IMC_SECRETS_DIR or ~/.imc/secrets).")
    var secretsDir: String?

    func credentials(for names: [String]) throws -> [ImageRegistryCredential] {
        let env = ProcessInfo.processInfo.environment
        let dir = secretsDir ?? env["IMC_SECRETS_DIR"] ?? ((env["HOME"] ?? "/root") + "/.imc/secrets")
        var out: [ImageRegistryCredential] = []
        for name in names {
            let candidates = ["json", "yaml", "yml"].map { "\(dir)/\(name).\($0)" }
            guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }),
                let data = FileManager.default.contents(atPath: path)
            else {
                throw ValidationError("imagePullSecrets \(name): no secret at \(candidates[0]) (or .yaml)")
            }
            var json = data
            if !path.hasSuffix(".json") {
                guard let object = try? JSONValue.parseYAML(String(decoding: data, as: UTF8.self)), case .object = object else {
                    throw ValidationError("imagePullSecrets \(name): \(path) is not a Secret")
                }
                json = object.data
            }
            let config = try RegistryConfig.parse(json, source: path)
            out += config.credentials.map {
                ImageRegistryCredential(Server: $0.server, Username: $0.username, Password: $0.password, Name: name)
            }
        }
        return out
    }
}

/// `imc apply -f FILE`: creates or updates the `ImageCache` resources of a YAML file, by name.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Create or update the ImageCache resources of a YAML file.")
    @OptionGroup var api: APIOptions
    @OptionGroup var secrets: SecretsOptions
    @Option(name: .shortAndLong, help: "The YAML file (- for standard input).") var filename: String

    func run() async throws {
        let manifests = try ImageCacheManifest.parse(try readInput(filename), source: filename)
        try await api.with { client in
            for m in manifests {
                let credentials = try secrets.credentials(for: m.imagePullSecrets)
                let existing = try await client.send(DescribeImageCachesRequest(ImageCacheNames: [m.name], Limit: 1))
                if let cache = existing.ImageCaches.first {
                    var p = UpdateImageCacheRequest(ImageCacheId: cache.ImageCacheId)
                    p.Images = m.images
                    p.ImageCacheSize = m.imageCacheSize
                    p.RetentionDays = m.retentionDays
                    // A field taken out of the YAML goes back to its default, as kubectl apply does.
                    p.RefreshIntervalMinutes = m.refreshIntervalMinutes ?? 0
                    if !credentials.isEmpty { p.ImageRegistryCredentials = credentials }
                    _ = try await client.send(p)
                    print("imagecache.eks.cloud.tencent.com/\(m.name) configured (\(cache.ImageCacheId))")
                } else {
                    var p = CreateImageCacheRequest(Images: m.images)
                    p.ImageCacheName = m.name
                    p.ImageCacheSize = m.imageCacheSize
                    p.RetentionDays = m.retentionDays
                    p.RefreshIntervalMinutes = m.refreshIntervalMinutes
                    p.Platform = m.platform
                    if !credentials.isEmpty { p.ImageRegistryCredentials = credentials }
                    if let eip = m.annotations["eks.tke.cloud.tencent.com/eip-attributes"],
                        let value = try? JSONDecoder().decode(JSONValue.self, from: Data(eip.utf8)), case .object = value
                    {
                        p.AutoCreateEipAttribute = value
                    }
                    let id = try await client.send(p).ImageCacheId
                    print("imagecache.eks.cloud.tencent.com/\(m.name) created (\(id))")
                }
            }
        }
    }
}

/// `imc delete -f FILE`: deletes the `ImageCache` resources of a YAML file, by name.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete the ImageCache resources of a YAML file.")
    @OptionGroup var api: APIOptions
    @Option(name: .shortAndLong, help: "The YAML file (- for standard input).") var filename: String

    func run() async throws {
        let manifests = try ImageCacheManifest.parse(try readInput(filename), source: filename)
        try await api.with { client in
            for m in manifests {
                let found = try await client.send(DescribeImageCachesRequest(ImageCacheNames: [m.name], Limit: 50))
                let ids = found.ImageCaches.map(\.ImageCacheId)
                guard !ids.isEmpty else {
                    print("imagecache.eks.cloud.tencent.com/\(m.name) not found")
                    continue
                }
                _ = try await client.send(DeleteImageCachesRequest(ImageCacheIds: ids))
                print("imagecache.eks.cloud.tencent.com/\(m.name) deleted")
            }
        }
    }
}

/// `imc get imagecaches`: the custom resource's printer columns.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "List resources as kubectl would: imc get imagecaches.")
    @OptionGroup var api: APIOptions
    @Argument(help: "imagecaches (or imagecache, imc).") var resource: String

    func validate() throws {
        guard ["imagecaches", "imagecache", "imc"].contains(resource) else {
            throw ValidationError("unknown resource \(resource); use imagecaches")
        }
    }

    func run() async throws {
        try await api.with { client in
            let caches = try await allCaches(client)
            if api.json {
                print(APIOptions.render(caches))
                return
            }
            print(
                table(
                    ["NAME", "SIZE", "ID", "PHASE", "AGE"],
                    caches.map { c in [c.ImageCacheName, "\(c.ImageCacheSize)", c.ImageCacheId, c.Status, age(c.CreationTime)] }))
        }
    }
}

func readInput(_ path: String) throws -> String {
    if path == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
    guard let data = FileManager.default.contentsOfFile(path) else { throw ValidationError("-f \(path): cannot read the file") }
    return String(decoding: data, as: UTF8.self)
}

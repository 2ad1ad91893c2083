import Foundation
import IMCCompression
import IMCContent
import IMCModel
import IMCPull
import IMCRegistry
import IMCTestSupport
import IMCUnpack
import Testing

/// Pulls images made from code out of a real registry and checks the unpacked result file by file.
@Suite(.enabled(if: Requirements.registryAndRoot, "needs root and Debian's docker-registry"))
struct PullRoundTripTests {
    static func pull(_ ref: String, from registry: DockerRegistry, into dir: TemporaryDirectory, options: PullOptions = PullOptions())
        async throws -> PullResult
    {
        let client = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry.host]))
        let puller = Puller(
            client: client, store: try OCILayoutStore(root: dir.path), layers: try LayerStore(root: dir.appending("layers")))
        do {
            let result = try await puller.pull(try ImageReference(parsing: ref), options: options)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test(arguments: [
        ([Compression.gzip], TestImage.Format.oci, UploadMode.monolithic),
        ([.zstd, .none, .gzip], .oci, .chunked(1000)),
        ([.gzip], .docker, .chunked(64 << 10)),
    ])
    func mergedTreeMatchesTheLayers(compression: [Compression], format: TestImage.Format, mode: UploadMode) async throws {
        let registry = try await DockerRegistry.start()
        let layers = SampleLayers.rich()
        let image = try TestImage(layers: layers, compression: compression, format: format)
        let pusher = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry.host]))
        try await pusher.push(image, host: registry.host, repository: "test/rich", tag: "v1", mode: mode)
        try await pusher.shutdown()

        let dir = try TemporaryDirectory()
        let result = try await Self.pull("\(registry.host)/test/rich:v1", from: registry, into: dir)
        #expect(result.manifestDigest == image.manifestDescriptor.digest)
        #expect(result.layerCount == 3)
        #expect(result.compressedBytes == image.layers.reduce(0) { $0 + $1.descriptor.size })

        let mount = try OverlayMount(layers: result.layers.compactMap(\.path))
        let actual = try TreeModel.scan(mount.target)
        let differences = TreeModel.differences(expected: TreeModel.merged(layers), actual: actual)
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
        // The model itself is checked against what the layers obviously mean.
        #expect(actual.count > 30)
        #expect(actual["usr/bin/su"] == nil && actual["opt/old"] == nil && actual["var/cache/apt/pkgcache.bin"] == nil)
        #expect(actual["var/cache/apt/new.bin"]?.kind == "file")
        #expect(actual["etc/hostname"]?.content == "/proc/sys/kernel/hostname")
        #expect(actual["usr/bin/wall"]?.mode == 0o2755 && actual["usr/bin/wall"]?.gid == 5)
        #expect(actual["data/labelled"]?.xattrs == ["user.comment": Array("hello".utf8)])
        #expect(actual["usr/bin/ping"]?.xattrs["security.capability"] != nil)
        #expect(actual["dev/null"]?.content == "1:3" && actual["dev/loop0"]?.kind == "block")
        #expect(try String(contentsOfFile: mount.target + "/etc/passwd", encoding: .utf8) == "root:x:0:0::/root:/bin/bash\n")
        var a = stat()
        var b = stat()
        #expect(lstat(mount.target + "/usr/bin/tool", &a) == 0 && lstat(mount.target + "/usr/bin/tool-link", &b) == 0)
        #expect(a.st_ino == b.st_ino, "hardlinks stay one inode")
    }
}

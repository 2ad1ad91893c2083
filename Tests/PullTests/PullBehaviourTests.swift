import Foundation
import IMCCompression
import IMCContent
import IMCModel
import IMCPull
import IMCRegistry
import IMCTestSupport
import IMCUnpack
import Testing

/// Pulls from the scriptable registry: platforms, lies, reuse, deduplication.
@Suite(.enabled(if: Requirements.isRoot, "needs root (chown and device nodes while unpacking)"))
struct PullBehaviourTests {
    struct Bed {
        let registry: FaultRegistry
        let dir: TemporaryDirectory
        let client: RegistryClient
        let puller: Puller
        let store: OCILayoutStore
        let layers: LayerStore

        init(auth: FaultRegistry.Auth = .none) async throws {
            registry = try await FaultRegistry.start(auth: auth)
            dir = try TemporaryDirectory()
            var options = RegistryClientOptions()
            options.sleep = { _ in }
            client = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry.host]), options: options)
            store = try OCILayoutStore(root: dir.path)
            layers = try LayerStore(root: dir.appending("layers"))
            puller = Puller(client: client, store: store, layers: layers)
        }

        func pull(_ ref: String, platform: String? = nil) async throws -> PullResult {
            var options = PullOptions()
            options.platform = try platform.map { try Platform(parsing: $0) }
            return try await puller.pull(try ImageReference(parsing: "\(registry.host)/\(ref)"), options: options)
        }

        func close() async {
            try? await client.shutdown()
        }

        /// Files anywhere under the layer store's final and temporary directories.
        var committedLayers: [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir.appending("layers/sha256"))) ?? [] }
        var leftovers: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.appending("layers/tmp"))) ?? [])
                + ((try? FileManager.default.contentsOfDirectory(atPath: dir.appending("ingest"))) ?? [])
        }
    }

    static func layer(_ text: String) -> TarBuilder {
        var t = TarBuilder()
        t.file("etc/which", text)
        return t
    }

    @Test func picksThePlatformFromAnIndex() async throws {
        let bed = try await Bed()
        let amd = try TestImage(layers: [Self.layer("amd64")], platform: Platform(os: "linux", architecture: "amd64"))
        let arm = try TestImage(layers: [Self.layer("arm64")], platform: Platform(os: "linux", architecture: "arm64"))
        bed.registry.add(try TestIndex([amd, arm], format: .docker), repository: "multi", tag: "latest")
        let host = try await bed.pull("multi:latest")
        #expect(host.manifestDigest == amd.manifestDescriptor.digest && host.platform == "linux/amd64")
        let other = try await bed.pull("multi:latest", platform: "linux/arm64")
        #expect(other.manifestDigest == arm.manifestDescriptor.digest)
        #expect(try String(contentsOfFile: other.layers[0].path! + "/etc/which", encoding: .utf8) == "arm64")
        do {
            _ = try await bed.pull("multi:latest", platform: "linux/s390x")
            Issue.record("a missing platform was pulled")
        } catch let e as PullError {
            #expect(e.code == .noMatchingPlatform && e.message.contains("linux/arm64") && e.exitCode == 6)
        }
        await bed.close()
    }

    @Test func wrongLayerBytesCommitNothing() async throws {
        let bed = try await Bed()
        let image = try TestImage(layers: [Self.layer("a"), Self.layer("b")])
        bed.registry.add(image, repository: "lies", tag: "v1")
        bed.registry.script(.wrongBytes, on: .blob, times: 10)
        do {
            _ = try await bed.pull("lies:v1")
            Issue.record("wrong bytes were accepted")
        } catch let e as PullError {
            #expect(e.code == .badImage)
        }
        #expect(bed.committedLayers.isEmpty)
        #expect(bed.leftovers.isEmpty)
        for l in image.layers { #expect(!bed.store.contains(l.descriptor.digest)) }
        await bed.close()
    }

    @Test func aConfigWhoseDiffIDsLieFailsTheLayer() async throws {
        let bed = try await Bed()
        let honest = try TestImage(layers: [Self.layer("a")])
        // Same layer blob, but the config claims another uncompressed digest.
        var config = try JSONDecoder().decode(ImageConfig.self, from: honest.config)
        config.rootfs.diff_ids = [try TestImage(layers: [Self.layer("different")]).layers[0].diffID]
        let image = try honest.rewritten(config: config)
        bed.registry.add(image, repository: "lies", tag: "diff")
        do {
            _ = try await bed.pull("lies:diff")
            Issue.record("a diff_id mismatch was accepted")
        } catch let e as PullError {
            #expect(e.code == .badImage && e.message.contains("diff"))
        }
        #expect(bed.committedLayers.isEmpty && bed.leftovers.isEmpty)
        #expect(!bed.store.contains(image.layers[0].descriptor.digest))
        await bed.close()
    }

    @Test func aSecondPullReusesEverythingAndFetchesNoBlob() async throws {
        let bed = try await Bed(auth: .bearer(user: nil, password: nil))
        let image = try TestImage(layers: [Self.layer("a"), Self.layer("b")])
        bed.registry.add(image, repository: "app", tag: "v1")
        let first = try await bed.pull("app:v1")
        #expect(first.layers.allSatisfy { !$0.reused })
        bed.registry.clearRequests()
        let second = try await bed.pull("app:v1")
        #expect(second.layers.allSatisfy { $0.reused })
        #expect(second.unpackedBytes == first.unpackedBytes)
        #expect(!bed.registry.requests.contains { $0.path.contains("/blobs/") })
        await bed.close()
    }

    @Test func layerBlobsAreKeptOnlyWhenAsked() async throws {
        let bed = try await Bed()
        let image = try TestImage(layers: [Self.layer("a")])
        bed.registry.add(image, repository: "app", tag: "v1")
        _ = try await bed.pull("app:v1")
        #expect(!bed.store.contains(image.layers[0].descriptor.digest))
        #expect(bed.store.contains(image.configDescriptor.digest) && bed.store.contains(image.manifestDescriptor.digest))
        let other = try await Bed()
        other.registry.add(image, repository: "app", tag: "v1")
        var options = PullOptions()
        options.keepLayerBlobs = true
        _ = try await other.puller.pull(try ImageReference(parsing: "\(other.registry.host)/app:v1"), options: options)
        #expect(other.store.contains(image.layers[0].descriptor.digest))
        await bed.close()
        await other.close()
    }

    @Test func twoPullsOfTheSameLayerAtOnceFetchItOnce() async throws {
        let bed = try await Bed()
        var big = TarBuilder()
        var generator = SystemRandomNumberGenerator()
        big.add("blob", .file((0..<2_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        let shared = try TestImage(layers: [big])
        bed.registry.add(shared, repository: "one", tag: "v1")
        bed.registry.add(shared, repository: "two", tag: "v1")
        async let a = bed.pull("one:v1")
        async let b = bed.pull("two:v1")
        let (ra, rb) = try await (a, b)
        #expect(ra.layers[0].path == rb.layers[0].path)
        #expect(bed.registry.requests.filter { $0.path.contains("/blobs/sha256:\(shared.layers[0].descriptor.digest.hex)") }.count == 1)
        await bed.close()
    }

    @Test func aMismatchedLayerCountIsRefused() async throws {
        let bed = try await Bed()
        let full = try TestImage(layers: [Self.layer("a"), Self.layer("b")])
        let image = try full.rewritten(manifestLayers: [full.layers[0].descriptor])
        bed.registry.add(image, repository: "short", tag: "v1")
        do {
            _ = try await bed.pull("short:v1")
            Issue.record("accepted")
        } catch let e as PullError {
            #expect(e.code == .badImage && e.message.contains("diff_ids"))
        }
        await bed.close()
    }

    @Test func aDownloadOnlyPullStoresBlobsThatALaterPullUnpacks() async throws {
        let bed = try await Bed()
        let image = try TestImage(layers: [Self.layer("a"), Self.layer("b")], compression: [.zstd])
        bed.registry.add(image, repository: "app", tag: "v1")
        var options = PullOptions()
        options.downloadOnly = true
        let result = try await bed.puller.pull(try ImageReference(parsing: "\(bed.registry.host)/app:v1"), options: options)
        #expect(result.layers.allSatisfy { $0.path == nil })
        #expect(bed.committedLayers.isEmpty)
        for l in image.layers { #expect(bed.store.contains(l.descriptor.digest)) }
        bed.registry.clearRequests()
        let full = try await bed.pull("app:v1")
        #expect(bed.committedLayers.count == 2)
        #expect(!bed.registry.requests.contains { $0.path.contains("/blobs/") })
        #expect(try String(contentsOfFile: full.layers[1].path! + "/etc/which", encoding: .utf8) == "b")
        await bed.close()
    }
}

/// A destination that fills up part way: a typed error, exit code 8, nothing half-written.
@Suite(.enabled(if: Requirements.isRoot, "needs root to mount a small tmpfs"))
struct DiskFullTests {
    @Test func aFullDiskIsATypedErrorAndLeavesNothingBehind() async throws {
        let registry = try await FaultRegistry.start()
        var big = TarBuilder()
        var generator = SystemRandomNumberGenerator()
        big.add("blob", .file((0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        registry.add(try TestImage(layers: [big]), repository: "big", tag: "v1")
        let dir = try TemporaryDirectory()
        let dest = dir.appending("small")
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        guard mount("tmpfs", dest, "tmpfs", 0, "size=2m") == 0 else { throw TestSupportError("mount tmpfs failed") }
        defer { umount2(dest, 0) }
        let r = try await CommandRunner.run(
            "imc", ["pull", "\(registry.host)/big:v1", "--plain-http", registry.host, "--dest", dest, "--json"])
        #expect(r.status == 8, "\(r.stderr)")
        #expect(r.stderr.contains("space"), "\(r.stderr)")
        let leftovers =
            ((try? FileManager.default.contentsOfDirectory(atPath: dest + "/ingest")) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: dest + "/layers/tmp")) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: dest + "/layers/sha256")) ?? [])
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}

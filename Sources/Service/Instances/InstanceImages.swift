import Foundation
import IMCCache
import IMCContent
import IMCModel
import IMCOS
import IMCObservability
import IMCPull
import IMCRegistry
import IMCServiceSupport
import IMCUnpack
import Logging

/// An image ready to run: its layer directories (bottom first) and its config.
struct ReadyImage: Sendable {
    var reference: String
    var layers: [String]
    var config: ImageConfig
    /// What the reference resolved to when the image was stored (index or manifest digest).
    var resolvedDigest: Digest?
    /// Whether every layer marks opaque directories with `user.overlay.opaque` (see
    /// `CacheDiskManifest`); pulls made here write both markers.
    var userXattrs = true
}

/// Where an instance's images come from: a cache disk's manifest, or a pull.
enum InstanceImages {
    /// The manifest a cache build wrote at the disk's root.
    static func diskManifest(at root: String) -> CacheDiskManifest? {
        guard let data = FileManager.default.contents(atPath: root + "/" + CacheDiskManifest.fileName) else { return nil }
        return try? JSONDecoder().decode(CacheDiskManifest.self, from: data)
    }

    /// An image the disk holds: nothing is downloaded or unpacked, its layers are read where
    /// the build put them.
    static func fromDisk(_ entry: CacheDiskManifest.Image, root: String) throws -> ReadyImage {
        let store = try OCILayoutStore(root: root + "/images")
        let manifestDigest = try Digest(parsing: entry.manifestDigest)
        let document = try ManifestDocument.parse(try store.read(manifestDigest, maxSize: ManifestDocument.maxSize), mediaType: nil)
        guard case .manifest(let manifest) = document else {
            throw ServiceError.failed("image \(entry.reference) on the cache disk has no manifest")
        }
        let config = try ManifestDocument.parseConfig(try store.read(manifest.config.digest, maxSize: ManifestDocument.maxSize))
        let layers = config.rootfs.diff_ids.map { "\(root)/layers/sha256/\($0.hex)" }
        for path in layers where access(path, F_OK) != 0 {
            throw ServiceError.failed("layer \(path) of image \(entry.reference) is missing from the cache disk")
        }
        let resolved = try? store.resolve(entry.normalized)?.digest
        return ReadyImage(reference: entry.reference, layers: layers, config: config, resolvedDigest: resolved ?? manifestDigest)
    }

    /// Pulls `reference` into the stores under `root` (`images/`, `layers/`).
    static func pull(_ reference: String, into root: String, registry: RegistryConfig, options: RegistryClientOptions, logger: Logger)
        async throws -> (ReadyImage, PullResult)
    {
        try await pull(
            reference, store: try OCILayoutStore(root: root + "/images"), layers: try LayerStore(root: root + "/layers"),
            registry: registry,
            options: options, logger: logger)
    }

    /// Pulls `reference` into open stores (which several pulls may share at once).
    static func pull(
        _ reference: String, store: OCILayoutStore, layers: LayerStore, registry: RegistryConfig, options: RegistryClientOptions,
        logger: Logger
    ) async throws -> (ReadyImage, PullResult) {
        let ref = try ImageReference(parsing: reference)
        let client = RegistryClient(config: registry, options: options, logger: logger)
        let puller = Puller(client: client, store: store, layers: layers, logger: logger)
        do {
            let result = try await puller.pull(ref)
            IMCMetrics.pulled(bytes: result.layers.filter { !$0.reused }.reduce(0) { $0 + $1.size })
            try await client.shutdown()
            let config = try ManifestDocument.parseConfig(try store.read(result.configDigest, maxSize: ManifestDocument.maxSize))
            let image = ReadyImage(
                reference: reference, layers: result.layers.compactMap(\.path), config: config,
                resolvedDigest: try? store.resolve(ref.description)?.digest)
            return (image, result)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

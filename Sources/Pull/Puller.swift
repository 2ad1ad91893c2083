import Foundation
import IMCCompression
import IMCContent
import IMCModel
import IMCRegistry
import IMCUnpack
import Logging

/// Pulls images: resolves a reference to a platform's manifest, stores manifest and config in
/// the content store, and streams each layer from the network through digest check,
/// decompression and tar extraction into its own overlay-ready directory, several layers at
/// once. Nothing reaches its final name unless its digests matched.
public final class Puller: Sendable {
    let client: RegistryClient
    let store: OCILayoutStore
    let layers: LayerStore
    let logger: Logger
    let inFlight = InFlight()

    /// `store` is the OCI layout, `layers` the unpacked layers. The blocking
    /// decompress-and-extract pipelines (one per layer in flight) run on the shared
    /// `BlockingPool`.
    public init(client: RegistryClient, store: OCILayoutStore, layers: LayerStore, logger: Logger? = nil) {
        self.client = client
        self.store = store
        self.layers = layers
        self.logger = logger ?? Logger(label: "imc.pull", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// Pulls `reference`. `progress` is called from any thread.
    public func pull(
        _ reference: ImageReference, options: PullOptions = PullOptions(), progress: @escaping @Sendable (PullEvent) -> Void = { _ in }
    ) async throws -> PullResult {
        do {
            return try await pullUnmapped(reference, options: options, progress: progress)
        } catch let e as CancellationError {
            throw e
        } catch {
            throw PullError.from(error)
        }
    }

    private func pullUnmapped(_ reference: ImageReference, options: PullOptions, progress: @escaping @Sendable (PullEvent) -> Void)
        async throws -> PullResult
    {
        let started = ContinuousClock.now
        let wanted = options.platform ?? Platform.host
        var fetched = try await client.fetchManifest(reference)
        var indexDescriptor: Descriptor?
        if case .index(let index) = fetched.document {
            try store.write(fetched.data, expected: fetched.digest)
            indexDescriptor = Descriptor(mediaType: fetched.mediaType, digest: fetched.digest, size: Int64(fetched.data.count))
            guard
                let chosen = index.manifests.first(where: { $0.platform.map(wanted.matches) ?? false && MediaType.isManifest($0.mediaType) }
                )
            else {
                let available = index.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw PullError(
                    .noMatchingPlatform,
                    "image \(reference) has no manifest for \(wanted) (it has: \(available.isEmpty ? "none" : available))")
            }
            fetched = try await client.fetchManifest(reference, reference: chosen.digest.description)
            guard fetched.digest == chosen.digest else {
                throw PullError(.badImage, "registry served manifest \(fetched.digest) for \(chosen.digest)")
            }
        }
        guard case .manifest(let manifest) = fetched.document else {
            throw PullError(.badImage, "image \(reference): an index points at another index, which imc does not follow")
        }
        try store.write(fetched.data, expected: fetched.digest)

        // The config: its diff_ids are what the unpacked layers are checked against.
        let configData: Data
        if store.contains(manifest.config.digest) {
            configData = try store.read(manifest.config.digest, maxSize: ManifestDocument.maxSize)
        } else {
            configData = try await client.fetchBlob(reference, manifest.config)
            try store.write(configData, expected: manifest.config.digest)
        }
        let config = try ManifestDocument.parseConfig(configData)
        if indexDescriptor != nil || options.platform != nil, !wanted.matches(config.platform) {
            throw PullError(.noMatchingPlatform, "image \(reference) is for \(config.platform), not \(wanted)")
        }
        guard config.rootfs.diff_ids.count == manifest.layers.count else {
            throw PullError(
                .badImage,
                "image \(reference) has \(manifest.layers.count) layers but its config lists \(config.rootfs.diff_ids.count) diff_ids")
        }
        var compressions: [Compression] = []
        for layer in manifest.layers {
            guard let c = LayerCompression(mediaType: layer.mediaType) else {
                throw PullError(
                    .badImage,
                    "image \(reference) has a layer of media type \"\(layer.mediaType.truncatedForMessage)\", which imc does not unpack")
            }
            compressions.append(Compression(rawValue: c.rawValue)!)
        }
        progress(.resolved(manifest: fetched.digest, platform: config.platform, layers: manifest.layers.map { ($0.digest, $0.size) }))

        // The layers, a bounded number at once.
        let timeline = Timeline()
        var results = [PullResult.Layer?](repeating: nil, count: manifest.layers.count)
        try await withThrowingTaskGroup(of: (Int, PullResult.Layer).self) { group in
            var next = 0
            func startNext() {
                let i = next
                next += 1
                let job = LayerJob(
                    reference: reference, descriptor: manifest.layers[i], diffID: config.rootfs.diff_ids[i], compression: compressions[i],
                    index: i, options: options, progress: progress, timeline: timeline)
                group.addTask { (i, try await self.pullLayer(job)) }
            }
            while next < min(max(1, options.layerConcurrency), manifest.layers.count) { startNext() }
            while let (i, layer) = try await group.next() {
                results[i] = layer
                progress(.layerDone(index: i, reused: layer.reused, unpackedBytes: layer.unpackedSize))
                if next < manifest.layers.count { startNext() }
            }
        }
        let layerResults = results.compactMap { $0 }
        let manifestDescriptor = Descriptor(
            mediaType: fetched.mediaType, digest: fetched.digest, size: Int64(fetched.data.count), platform: config.platform)
        try store.tag(reference.description, indexDescriptor ?? manifestDescriptor)
        let spans = timeline.spans()
        return PullResult(
            reference: reference.description, manifestDigest: fetched.digest, configDigest: manifest.config.digest,
            platform: config.platform.description, compressedBytes: layerResults.reduce(0) { $0 + $1.size },
            unpackedBytes: layerResults.reduce(0) { $0 + $1.unpackedSize }, layerCount: layerResults.count,
            downloadSeconds: spans.download, unpackSeconds: spans.unpack, totalSeconds: (ContinuousClock.now - started).seconds,
            layers: layerResults)
    }
}

extension Duration {
    /// This duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

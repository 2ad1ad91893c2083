import Foundation
import IMCCompression
import IMCModel
import IMCRegistry
import NIOCore

import struct Crypto.SHA256

/// An image made from code: layers, config and manifest, every blob held in memory.
public struct TestImage: Sendable {
    public struct Layer: Sendable {
        public var tar: [UInt8]
        public var blob: [UInt8]
        public var compression: Compression
        public var descriptor: Descriptor
        public var diffID: Digest
    }

    public enum Format: Sendable {
        case oci
        case docker
    }

    public var layers: [Layer]
    public var config: Data
    public var configDescriptor: Descriptor
    public var manifest: Data
    public var manifestDescriptor: Descriptor
    public var platform: Platform

    /// Builds an image from tar builders, one layer each, compressed as given (cycled).
    public init(
        layers builders: [TarBuilder], compression: [Compression] = [.gzip], format: Format = .oci,
        platform: Platform = .host, entrypoint: [String]? = nil, cmd: [String]? = nil, user: String? = nil
    ) throws {
        var layers: [Layer] = []
        for (i, builder) in builders.enumerated() {
            let tar = builder.build()
            let c = compression[i % compression.count]
            let blob = try Compressor.compress(tar, c)
            let mediaType: String
            switch (format, c) {
            case (.docker, _): mediaType = MediaType.dockerLayerGzip
            case (.oci, .gzip): mediaType = MediaType.ociLayerGzip
            case (.oci, .zstd): mediaType = MediaType.ociLayerZstd
            case (.oci, .none): mediaType = MediaType.ociLayer
            }
            precondition(format == .oci || c == .gzip, "Docker schema 2 layers are gzip")
            layers.append(
                Layer(
                    tar: tar, blob: blob, compression: c,
                    descriptor: Descriptor(mediaType: mediaType, digest: Self.digest(blob), size: Int64(blob.count)),
                    diffID: Self.digest(tar)))
        }
        var runtime = ImageConfig.Config()
        runtime.Entrypoint = entrypoint
        runtime.Cmd = cmd
        runtime.User = user
        runtime.Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        let configValue = ImageConfig(platform: platform, diffIDs: layers.map(\.diffID), config: runtime)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let config = try encoder.encode(configValue)
        let configDescriptor = Descriptor(
            mediaType: format == .oci ? MediaType.ociConfig : MediaType.dockerConfig, digest: Self.digest(Array(config)),
            size: Int64(config.count))
        let manifestType = format == .oci ? MediaType.ociManifest : MediaType.dockerManifest
        let manifestValue = ImageManifest(mediaType: manifestType, config: configDescriptor, layers: layers.map(\.descriptor))
        let manifest = try encoder.encode(manifestValue)
        self.layers = layers
        self.config = config
        self.configDescriptor = configDescriptor
        self.manifest = manifest
        self.manifestDescriptor = Descriptor(
            mediaType: manifestType, digest: Self.digest(Array(manifest)), size: Int64(manifest.count), platform: platform)
        self.platform = platform
    }

    public static func digest(_ bytes: [UInt8]) -> Digest { Digest(sha256: SHA256.hash(data: bytes)) }

    /// The same image with another config and/or another list of layer descriptors in its
    /// manifest (the blobs stay): for registries that serve inconsistent images.
    public func rewritten(config newConfig: ImageConfig? = nil, manifestLayers: [Descriptor]? = nil) throws -> TestImage {
        var image = self
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let newConfig {
            image.config = try encoder.encode(newConfig)
            image.configDescriptor = Descriptor(
                mediaType: configDescriptor.mediaType, digest: Self.digest(Array(image.config)), size: Int64(image.config.count))
        }
        let type = manifestDescriptor.mediaType
        image.manifest = try encoder.encode(
            ImageManifest(mediaType: type, config: image.configDescriptor, layers: manifestLayers ?? layers.map(\.descriptor)))
        image.manifestDescriptor = Descriptor(
            mediaType: type, digest: Self.digest(Array(image.manifest)), size: Int64(image.manifest.count), platform: platform)
        return image
    }

    /// Every blob by digest (layers and config).
    public var blobs: [Digest: [UInt8]] {
        var out: [Digest: [UInt8]] = [configDescriptor.digest: Array(config)]
        for l in layers { out[l.descriptor.digest] = l.blob }
        return out
    }
}

/// A multi-platform index over several images.
public struct TestIndex: Sendable {
    public var images: [TestImage]
    public var data: Data
    public var descriptor: Descriptor

    public init(_ images: [TestImage], format: TestImage.Format = .oci) throws {
        let type = format == .oci ? MediaType.ociIndex : MediaType.dockerManifestList
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        data = try encoder.encode(ImageIndex(mediaType: type, manifests: images.map(\.manifestDescriptor)))
        descriptor = Descriptor(mediaType: type, digest: TestImage.digest(Array(data)), size: Int64(data.count))
        self.images = images
    }
}

extension RegistryClient {
    /// Pushes an image with imc's own push code: blobs the registry lacks (mounted from
    /// `mountFrom` when given, else uploaded as `mode` says), then the manifest under `tag`.
    public func push(
        _ image: TestImage, host: String, repository: String, tag: String?, mode: UploadMode = .monolithic, mountFrom: String? = nil
    ) async throws {
        for (digest, bytes) in image.blobs.sorted(by: { $0.key < $1.key }) {
            if try await blobExists(host: host, repository: repository, digest: digest) { continue }
            if let mountFrom, try await mountBlob(host: host, repository: repository, digest: digest, from: mountFrom) { continue }
            try await pushBlob(host: host, repository: repository, bytes: ByteBuffer(bytes: bytes), digest: digest, mode: mode)
        }
        try await pushManifest(
            host: host, repository: repository, reference: tag ?? image.manifestDescriptor.digest.description, data: image.manifest,
            mediaType: image.manifestDescriptor.mediaType)
    }

    /// Pushes every image of an index by digest, then the index under `tag`.
    public func push(_ index: TestIndex, host: String, repository: String, tag: String) async throws {
        for image in index.images { try await push(image, host: host, repository: repository, tag: nil) }
        try await pushManifest(host: host, repository: repository, reference: tag, data: index.data, mediaType: index.descriptor.mediaType)
    }
}

import Foundation
import IMCModel

/// What a cache disk holds, written at its root by the build (`imc-manifest.json`) and read by
/// every instance made from it: each image's references, manifest and layers. Paths are not
/// recorded: a layer is found on the disk by its diff-id (`layers/sha256/<hex>`), wherever the
/// disk is mounted.
///
/// Versioned: `schemaVersion` 2 is this shape, with every opaque directory of its layers marked
/// `user.overlay.opaque` (builds run in a user namespace, where `trusted.*` cannot be written;
/// instances mount such layers with overlayfs's `userxattr`); version 1 marked them
/// `trusted.overlay.opaque` only; a manifest without a version was written before versions
/// existed (version 0, whose layers also carried their build-time paths, which are not read).
public struct CacheDiskManifest: Codable, Sendable, Equatable {
    public static let fileName = "imc-manifest.json"
    public static let currentVersion = 2

    public struct Image: Codable, Sendable, Equatable {
        /// As the user gave it.
        public var reference: String
        /// Normalised (`docker.io/library/nginx:latest`): what matching compares.
        public var normalized: String
        public var manifestDigest: String
        public var platform: String
        public var layers: [Layer]

        public init(reference: String, normalized: String, manifestDigest: String, platform: String, layers: [Layer]) {
            self.reference = reference
            self.normalized = normalized
            self.manifestDigest = manifestDigest
            self.platform = platform
            self.layers = layers
        }
    }

    public struct Layer: Codable, Sendable, Equatable {
        /// The compressed blob's digest.
        public var digest: Digest
        /// The uncompressed layer's digest: its directory's name on the disk.
        public var diffID: Digest
        public var mediaType: String
        public var size: Int64
        public var unpackedSize: Int64

        public init(digest: Digest, diffID: Digest, mediaType: String, size: Int64, unpackedSize: Int64) {
            self.digest = digest
            self.diffID = diffID
            self.mediaType = mediaType
            self.size = size
            self.unpackedSize = unpackedSize
        }
    }

    public var schemaVersion: Int
    public var cacheID: String
    public var images: [Image]

    public init(cacheID: String, images: [Image] = []) {
        schemaVersion = Self.currentVersion
        self.cacheID = cacheID
        self.images = images
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, cacheID, images
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? 0
        guard schemaVersion <= Self.currentVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: c,
                debugDescription: "schema version \(schemaVersion) is newer than this imc reads (\(Self.currentVersion))")
        }
        cacheID = try c.decode(String.self, forKey: .cacheID)
        images = try c.decode([Image].self, forKey: .images)
    }

    /// Whether the disk's layers mark opaque directories with `user.overlay.opaque` (mounted with
    /// `userxattr`), as builds since version 2 do.
    public var userOverlayXattrs: Bool { schemaVersion >= 2 }

    /// The images by normalised reference.
    public var byReference: [String: Image] { Dictionary(images.map { ($0.normalized, $0) }, uniquingKeysWith: { a, _ in a }) }

    /// The manifest as it is written: sorted keys, indented.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

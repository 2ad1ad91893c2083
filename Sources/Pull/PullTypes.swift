import IMCModel
import IMCUnpack

/// What to pull and how.
public struct PullOptions: Sendable {
    /// The platform to pick from an index; the host's when nil.
    public var platform: Platform?
    /// Layers downloaded and unpacked at once.
    public var layerConcurrency = 3
    /// Store blobs only; unpack nothing (what `skopeo copy docker://... oci:...` does).
    public var downloadOnly = false
    /// Also keep each layer's compressed blob in the OCI layout after unpacking it. Off by
    /// default: the unpacked directory is what is used, and the blob would cost a third more
    /// disk space and writes. Manifests, indexes and configs are always kept.
    public var keepLayerBlobs = false
    /// Caps against decompression and tar bombs.
    public var limits = UnpackLimits()

    public init() {}
}

/// Something a pull did, for progress display and event logs.
public enum PullEvent: Sendable {
    /// The manifest is known: its digest, platform and layers (digest, compressed size).
    case resolved(manifest: Digest, platform: Platform, layers: [(digest: Digest, size: Int64)])
    /// Layer `index` received `bytes` more bytes.
    case layerBytes(index: Int, bytes: Int)
    /// Layer `index` is done: whether it was already present, and its unpacked size.
    case layerDone(index: Int, reused: Bool, unpackedBytes: Int64)
}

/// What a pull produced: the summary `imc pull --json` prints.
public struct PullResult: Sendable, Codable {
    public struct Layer: Sendable, Codable {
        public var digest: Digest
        public var diffID: Digest
        public var mediaType: String
        public var size: Int64
        public var unpackedSize: Int64
        /// The overlay-ready directory (nil for download-only pulls).
        public var path: String?
        public var reused: Bool
    }

    public var reference: String
    public var manifestDigest: Digest
    public var configDigest: Digest
    public var platform: String
    public var compressedBytes: Int64
    public var unpackedBytes: Int64
    public var layerCount: Int
    /// Wall-clock time while any layer was downloading.
    public var downloadSeconds: Double
    /// Wall-clock time while any layer was unpacking; it overlaps the download, since layers
    /// are unpacked as they arrive.
    public var unpackSeconds: Double
    public var totalSeconds: Double
    /// Lower layer first.
    public var layers: [Layer]
}

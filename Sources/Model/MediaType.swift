/// The media types imc reads and writes, OCI and Docker schema 2.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// Every manifest and index type imc accepts, in the order it prefers them.
    public static let acceptedManifests = [ociIndex, dockerManifestList, ociManifest, dockerManifest]

    /// Whether `type` names an index (a list of per-platform manifests).
    public static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerManifestList }
    /// Whether `type` names a single-platform manifest.
    public static func isManifest(_ type: String) -> Bool { type == ociManifest || type == dockerManifest }
}

/// How a layer blob is compressed, from its media type.
public enum LayerCompression: String, Sendable, Codable {
    case none
    case gzip
    case zstd

    /// The compression of a layer media type, or nil when it is not a layer type imc unpacks.
    public init?(mediaType: String) {
        switch mediaType {
        case MediaType.ociLayer, "application/vnd.oci.image.layer.nondistributable.v1.tar": self = .none
        case MediaType.ociLayerGzip, MediaType.dockerLayerGzip, MediaType.dockerForeignLayerGzip,
            MediaType.ociLayerNonDistributableGzip:
            self = .gzip
        case MediaType.ociLayerZstd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": self = .zstd
        default: return nil
        }
    }
}

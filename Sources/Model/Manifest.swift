import Foundation
import IMCDocuments

/// A content descriptor: what a manifest or index says about a blob it points at.
public struct Descriptor: Hashable, Sendable, Codable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]?
    public var urls: [String]?

    public init(
        mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil, annotations: [String: String]? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
        self.urls = nil
    }
}

/// A single-platform image manifest (OCI or Docker schema 2).
public struct ImageManifest: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String, config: Descriptor, layers: [Descriptor]) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
    }
}

/// A multi-platform index (OCI image index or Docker manifest list).
public struct ImageIndex: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }
}

/// The parts of an image configuration imc needs: the platform, the layer diff ids and the
/// run-time defaults. Unknown fields are kept by keeping the raw bytes next to this value.
public struct ImageConfig: Hashable, Sendable, Codable {
    public struct RootFS: Hashable, Sendable, Codable {
        public var type: String
        public var diff_ids: [Digest]
        public init(diffIDs: [Digest]) {
            type = "layers"
            diff_ids = diffIDs
        }
    }

    public struct Config: Hashable, Sendable, Codable {
        public var User: String?
        public var Env: [String]?
        public var Entrypoint: [String]?
        public var Cmd: [String]?
        public var WorkingDir: String?
        public var Labels: [String: String]?
        public init() {}
    }

    public var architecture: String
    public var os: String
    public var variant: String?
    public var config: Config?
    public var rootfs: RootFS
    public var created: String?

    public init(platform: Platform, diffIDs: [Digest], config: Config? = nil) {
        architecture = platform.architecture
        os = platform.os
        variant = platform.variant
        self.config = config
        rootfs = RootFS(diffIDs: diffIDs)
    }

    /// The platform the config declares.
    public var platform: Platform { Platform(os: os, architecture: architecture, variant: variant) }
}

/// A manifest or an index, as fetched: its bytes decide its digest.
public enum ManifestDocument: Sendable {
    case manifest(ImageManifest)
    case index(ImageIndex)

    /// The most bytes a manifest, index or config may have.
    public static let maxSize = 4 << 20

    /// Parses `data` that a registry served as `mediaType`, refusing documents whose shape does
    /// not match what they claim to be (a manifest that carries `manifests`, an index that
    /// carries `layers`, a `mediaType` field that contradicts the header).
    public static func parse(_ data: Data, mediaType claimed: String?) throws(ModelError) -> ManifestDocument {
        guard data.count <= maxSize else {
            throw ModelError(.invalidDocument, "manifest is \(data.count) bytes, more than the \(maxSize) allowed")
        }
        // A registry's document: its other fields are the decoders' below; here only the shape.
        let object: [String: JSONValue]
        do {
            guard case .object(let o) = try JSONValue.parseJSON(data) else {
                throw ModelError(.invalidDocument, "manifest is not a JSON object")
            }
            object = o
        } catch let e as ModelError {
            throw e
        } catch {
            throw ModelError(.invalidDocument, "manifest is not valid JSON")
        }
        let inner: String? = if case .string(let t) = object["mediaType"] { t } else { nil }
        let header = claimed.map { $0.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? $0 }
        if let inner, let header, header != inner, header != "application/json", header != "application/octet-stream" {
            throw ModelError(
                .invalidDocument,
                "manifest claims media type \"\(header.truncatedForMessage)\" but its mediaType field is \"\(inner.truncatedForMessage)\"")
        }
        var type = inner ?? header ?? ""
        if type == MediaType.dockerSchema1 || type == MediaType.dockerSchema1Signed || object["schemaVersion"] == .number(1) {
            throw ModelError(
                .unsupportedMediaType, "image uses Docker schema 1 manifests, which imc does not pull; push it again with a current client")
        }
        let hasLayers = object["layers"] != nil || object["config"] != nil
        let hasManifests = object["manifests"] != nil
        if type.isEmpty || type == "application/json" || type == "application/octet-stream" {
            // OCI allows an absent mediaType: decide by shape, which must then be unambiguous.
            guard hasLayers != hasManifests else {
                throw ModelError(.invalidDocument, "manifest has no media type and an ambiguous shape")
            }
            type = hasManifests ? MediaType.ociIndex : MediaType.ociManifest
        }
        let decoder = JSONDecoder()
        if MediaType.isIndex(type) {
            guard hasManifests, !hasLayers else {
                throw ModelError(.invalidDocument, "document claims to be an index (\(type)) but has the shape of a manifest")
            }
            do { return .index(try decoder.decode(ImageIndex.self, from: data)) } catch {
                throw ModelError(.invalidDocument, "index does not decode: \(Self.describe(error))")
            }
        }
        if MediaType.isManifest(type) {
            guard hasLayers, !hasManifests else {
                throw ModelError(.invalidDocument, "document claims to be a manifest (\(type)) but has the shape of an index")
            }
            do { return .manifest(try decoder.decode(ImageManifest.self, from: data)) } catch {
                throw ModelError(.invalidDocument, "manifest does not decode: \(Self.describe(error))")
            }
        }
        throw ModelError(.unsupportedMediaType, "unsupported manifest media type \"\(type.truncatedForMessage)\"")
    }

    /// Parses an image configuration blob.
    public static func parseConfig(_ data: Data) throws(ModelError) -> ImageConfig {
        guard data.count <= maxSize else {
            throw ModelError(.invalidDocument, "image config is \(data.count) bytes, more than the \(maxSize) allowed")
        }
        do { return try JSONDecoder().decode(ImageConfig.self, from: data) } catch {
            throw ModelError(.invalidDocument, "image config does not decode: \(describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case DecodingError.keyNotFound(let k, let c):
            return "missing field \((c.codingPath + [k]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}

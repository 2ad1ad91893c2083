import Foundation
import IMCDocuments
import IMCModel

/// The `ImageCache` custom resource (API.md section 5) as YAML: what `imc apply -f` reads.
public struct ImageCacheManifest: Sendable, Equatable {
    public var name: String
    public var images: [String]
    public var imageCacheSize: Int?
    public var retentionDays: Int?
    /// imc's field: check the images' tags every this many minutes and rebuild when one moved.
    public var refreshIntervalMinutes: Int? = nil
    /// imc's field: the platform to cache the images for (`linux/arm64`).
    public var platform: String? = nil
    /// `namespace/name` of `kubernetes.io/dockerconfigjson` secrets.
    public var imagePullSecrets: [String]
    public var annotations: [String: String]

    public init(
        name: String, images: [String], imageCacheSize: Int?, retentionDays: Int?, imagePullSecrets: [String], annotations: [String: String]
    ) {
        self.name = name
        self.images = images
        self.imageCacheSize = imageCacheSize
        self.retentionDays = retentionDays
        self.imagePullSecrets = imagePullSecrets
        self.annotations = annotations
    }

    /// Parses one or more `---`-separated documents through the strict decoder; every error
    /// names the document and the field. The size's range is the service's to say (its
    /// configuration sets it), so it is checked there.
    public static func parse(_ text: String, source: String) throws -> [ImageCacheManifest] {
        let documents: [JSONValue]
        do { documents = try JSONValue.parseYAMLDocuments(text).filter { $0 != .null } } catch {
            throw ManifestError(.malformed, "\(source): not valid YAML: \(error.message)")
        }
        return try documents.enumerated().map { i, document in
            let at = documents.count > 1 ? "\(source) (document \(i + 1))" : source
            guard case .object(let root) = document else { throw ManifestError(.malformed, "\(at): expected a mapping") }
            guard root["apiVersion"] == .string("eks.cloud.tencent.com/v1") else {
                throw ManifestError("\(at): apiVersion must be eks.cloud.tencent.com/v1, not \(root["apiVersion"]?.shown ?? "nothing")")
            }
            guard root["kind"] == .string("ImageCache") else { throw ManifestError("\(at): kind must be ImageCache") }
            do throws(DecodingProblem) { return try StrictDecoder().decode(ImageCacheDocument.self, from: document).manifest } catch {
                throw ManifestError("\(at): \(error.message)")
            }
        }
    }
}

/// An `ImageCache` document as `imc apply -f` takes it: what it does not act on is refused by
/// its path (a `status`, labels), as is a value of the wrong type.
struct ImageCacheDocument: Decodable {
    var apiVersion: String
    var kind: String
    var metadata: Metadata
    var spec: Spec

    struct Metadata: Decodable {
        var name: String
        var annotations: [String: String]?
        /// Read to be refused by name: the Cloud API keeps no labels of a cache.
        var labels: [String: String]?
    }

    struct Spec: Decodable {
        var images: [String]
        var imageCacheSize: Int?
        var retentionDays: Int?
        var refreshIntervalMinutes: Int?
        var imagePullSecrets: [String]?
        var platform: String?
    }

    /// The manifest, each value checked.
    var manifest: ImageCacheManifest {
        get throws(DecodingProblem) {
            guard !metadata.name.isEmpty else { throw DecodingProblem(.missing, at: "metadata.name") }
            if metadata.labels != nil {
                throw DecodingProblem(
                    .invalid("are refused: the Cloud API keeps no labels of a cache (kubectl apply keeps them); remove them for imc apply"),
                    at: "metadata.labels")
            }
            guard !spec.images.isEmpty else { throw DecodingProblem(.invalid("must list at least one image"), at: "spec.images") }
            for (j, image) in spec.images.enumerated() {
                do { _ = try ImageReference(parsing: image) } catch {
                    throw DecodingProblem(.invalid("is not an image reference: \(error.message)"), at: FieldPath("spec.images").index(j))
                }
            }
            if let size = spec.imageCacheSize, size < 1 {
                throw DecodingProblem(.invalid("must be a number of GiB, not \(size)"), at: "spec.imageCacheSize")
            }
            if let days = spec.retentionDays, days < 0 {
                throw DecodingProblem(.invalid("must not be negative, not \(days)"), at: "spec.retentionDays")
            }
            if let refresh = spec.refreshIntervalMinutes, refresh < 0 {
                throw DecodingProblem(.invalid("must not be negative, not \(refresh)"), at: "spec.refreshIntervalMinutes")
            }
            for (j, entry) in (spec.imagePullSecrets ?? []).enumerated() where entry.split(separator: "/").count != 2 {
                throw DecodingProblem(.invalid("\(entry) is not namespace/name"), at: FieldPath("spec.imagePullSecrets").index(j))
            }
            if let platform = spec.platform, !platform.contains("/") {
                throw DecodingProblem(.invalid("must be like linux/arm64, not \(platform)"), at: "spec.platform")
            }
            var manifest = ImageCacheManifest(
                name: metadata.name, images: spec.images, imageCacheSize: spec.imageCacheSize, retentionDays: spec.retentionDays,
                imagePullSecrets: spec.imagePullSecrets ?? [], annotations: metadata.annotations ?? [:])
            manifest.refreshIntervalMinutes = spec.refreshIntervalMinutes
            manifest.platform = spec.platform
            return manifest
        }
    }
}

/// A manifest that cannot be applied.
public struct ManifestError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// Not YAML, or not the shape of the resource.
        case malformed
        /// A field has a value the resource does not take.
        case invalidField
    }
    public let code: Code
    public let message: String
    public let cause: (any Error)?
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
    public init(_ message: String) { self.init(.invalidField, message) }
    public var description: String { message }
}

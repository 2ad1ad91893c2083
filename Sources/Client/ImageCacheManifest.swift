import Foundation
import IMCModel
import Yams

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

    /// Parses one or more `---`-separated documents; every error names the field.
    public static func parse(_ text: String, source: String) throws -> [ImageCacheManifest] {
        var out: [ImageCacheManifest] = []
        let documents: [Any]
        do { documents = try Array(Yams.load_all(yaml: text)).compactMap { $0 } } catch {
            throw ManifestError("\(source): not valid YAML: \(error)")
        }
        for (i, document) in documents.enumerated() {
            let at = documents.count > 1 ? "\(source) (document \(i + 1))" : source
            guard let root = document as? [String: Any] else { throw ManifestError("\(at): expected a mapping") }
            guard root["apiVersion"] as? String == "eks.cloud.tencent.com/v1" else {
                throw ManifestError(
                    "\(at): apiVersion must be eks.cloud.tencent.com/v1, not \(root["apiVersion"].map { "\($0)" } ?? "nothing")")
            }
            guard root["kind"] as? String == "ImageCache" else { throw ManifestError("\(at): kind must be ImageCache") }
            guard let metadata = root["metadata"] as? [String: Any], let name = metadata["name"] as? String, !name.isEmpty else {
                throw ManifestError("\(at): metadata.name is required")
            }
            guard let spec = root["spec"] as? [String: Any] else { throw ManifestError("\(at): spec is required") }
            let known: Set<String> = [
                "images", "imageCacheSize", "retentionDays", "imagePullSecrets", "refreshIntervalMinutes", "platform",
            ]
            if let unknown = spec.keys.sorted().first(where: { !known.contains($0) }) {
                throw ManifestError("\(at): spec.\(unknown) is not a field of ImageCache")
            }
            guard let images = spec["images"] as? [String], !images.isEmpty else {
                throw ManifestError("\(at): spec.images must list at least one image")
            }
            for (j, image) in images.enumerated() {
                do { _ = try ImageReference(parsing: image) } catch { throw ManifestError("\(at): spec.images[\(j)]: \(error.message)") }
            }
            func int(_ key: String) throws -> Int? {
                guard let v = spec[key] else { return nil }
                guard let n = v as? Int else { throw ManifestError("\(at): spec.\(key) must be an integer, not \(v)") }
                return n
            }
            let size = try int("imageCacheSize")
            if let size, size < 20 { throw ManifestError("\(at): spec.imageCacheSize must be at least 20, not \(size)") }
            let retention = try int("retentionDays")
            if let retention, retention < 0 { throw ManifestError("\(at): spec.retentionDays must not be negative, not \(retention)") }
            let refresh = try int("refreshIntervalMinutes")
            if let refresh, refresh < 0 {
                throw ManifestError("\(at): spec.refreshIntervalMinutes must not be negative, not \(refresh)")
            }
            var secrets: [String] = []
            if let s = spec["imagePullSecrets"] {
                guard let list = s as? [String] else {
                    throw ManifestError("\(at): spec.imagePullSecrets must be a list of namespace/name")
                }
                for entry in list where entry.split(separator: "/").count != 2 {
                    throw ManifestError("\(at): spec.imagePullSecrets entry \(entry) is not namespace/name")
                }
                secrets = list
            }
            var manifest = ImageCacheManifest(
                name: name, images: images, imageCacheSize: size, retentionDays: retention, imagePullSecrets: secrets,
                annotations: (metadata["annotations"] as? [String: String]) ?? [:])
            manifest.refreshIntervalMinutes = refresh
            if let p = spec["platform"] {
                guard let text = p as? String, text.contains("/") else {
                    throw ManifestError("\(at): spec.platform must be like linux/arm64, not \(p)")
                }
                manifest.platform = text
            }
            out.append(manifest)
        }
        return out
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

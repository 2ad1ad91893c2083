import Foundation

/// The Pod annotations that ask for an image cache (API.md section 4), and what each sets in
/// `CacheRequestOptions`. Declared once: the Pod reader, the service's per-account defaults and
/// the docs use these names and this parsing, so a value means the same through every door.
public enum CacheAnnotation: String, CaseIterable, Sendable, Hashable {
    case useImageCache = "eks.tke.cloud.tencent.com/use-image-cache"
    case diskType = "eks.tke.cloud.tencent.com/image-cache-disk-type"
    case diskSize = "eks.tke.cloud.tencent.com/image-cache-disk-size"
    case retainMinute = "eks.tke.cloud.tencent.com/image-cache-disk-retain-minute"
    /// `perfect` (every image in the cache; the default) or `partial`.
    case match = "eks.tke.cloud.tencent.com/image-cache-match"
    /// At least this many of the Pod's images in the cache (implies `partial`).
    case minMatchedImages = "eks.tke.cloud.tencent.com/image-cache-min-matched-images"
    /// `true`: when nothing matches, build a cache of the Pod's images for the next Pod.
    case autoCreate = "eks.tke.cloud.tencent.com/image-cache-auto-create"

    /// Sets this annotation's field of `options` from `value`; the error names the annotation
    /// and the value. `use-image-cache` takes `auto`, a cache id, or `off` (no cache: how a Pod
    /// opts out of an account's default).
    public func apply(_ value: String, to options: inout CacheRequestOptions) throws(AnnotationError) {
        switch self {
        case .useImageCache:
            switch value {
            case "auto": options.use = "auto"
            case "off", "false", "none": options.use = nil
            case let id where id.hasPrefix("imc-"): options.use = id
            default: throw AnnotationError(self, value, "auto, off, or an image cache id (imc-...)")
            }
        case .diskType:
            guard let type = DiskType(rawValue: value) else {
                throw AnnotationError(self, value, "one of \(DiskType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            options.diskType = type
        case .diskSize:
            guard let n = Int(value), n > 0 else { throw AnnotationError(self, value, "a number of GiB") }
            options.diskSizeGiB = n
        case .retainMinute:
            guard let n = Int(value), n >= 0 else { throw AnnotationError(self, value, "a number of minutes") }
            options.retainMinutes = n
        case .match:
            switch value {
            case "perfect": options.partialMatch = false
            case "partial": options.partialMatch = true
            default: throw AnnotationError(self, value, "perfect or partial")
            }
        case .minMatchedImages:
            guard let n = Int(value), (1...100).contains(n) else { throw AnnotationError(self, value, "a number of images from 1 to 100") }
            options.minMatchedImages = n
            options.partialMatch = true
        case .autoCreate:
            switch value {
            case "true": options.autoCreate = true
            case "false": options.autoCreate = false
            default: throw AnnotationError(self, value, "true or false")
            }
        }
    }

    /// Checks a set of annotations (a config's defaults): every key one of these, every value
    /// valid.
    public static func validate(_ annotations: [String: String]) throws(AnnotationError) {
        var scratch = CacheRequestOptions()
        for (key, value) in annotations.sorted(by: { $0.key < $1.key }) {
            guard let annotation = CacheAnnotation(rawValue: key) else { throw AnnotationError(unknown: key) }
            try annotation.apply(value, to: &scratch)
        }
    }
}

/// An annotation with a value it cannot take, naming both.
public struct AnnotationError: Error, CustomStringConvertible, Sendable {
    /// The annotation's name.
    public let key: String
    /// What is wrong, after the name: `must be perfect or partial, not "fuzzy"`.
    public let reason: String
    public var message: String { "annotation \(key) \(reason)" }
    init(_ annotation: CacheAnnotation, _ value: String, _ expected: String) {
        key = annotation.rawValue
        reason = "must be \(expected), not \"\(value.prefix(80))\""
    }
    init(unknown key: String) {
        self.key = String(key.prefix(120))
        reason = "is not one imc gives defaults for; use \(CacheAnnotation.allCases.map(\.rawValue).joined(separator: ", "))"
    }
    public var description: String { message }
}

/// Annotations every instance of an account gets when its request does not say otherwise (as
/// Tencent's eks-config ConfigMap and Alibaba's eci-profile give them), from the service's config:
/// the defaults of every account, with each account's own on top.
public struct InstanceDefaults: Sendable, Equatable {
    public var everyAccount: [String: String]
    public var perAccount: [String: [String: String]]

    public init(everyAccount: [String: String] = [:], perAccount: [String: [String: String]] = [:]) {
        self.everyAccount = everyAccount
        self.perAccount = perAccount
    }

    /// The annotations `account` gets by default.
    public func annotations(for account: String) -> [String: String] {
        everyAccount.merging(perAccount[account] ?? [:]) { _, own in own }
    }

    /// Fills the fields of `options` that the request left unsaid from the account's defaults.
    /// Returns the annotations applied (for the instance's event).
    @discardableResult
    public func fill(_ options: inout CacheRequestOptions, unsaid: Set<CacheAnnotation>, account: String) -> [String: String] {
        var applied: [String: String] = [:]
        for (key, value) in annotations(for: account) {
            guard let annotation = CacheAnnotation(rawValue: key), unsaid.contains(annotation) else { continue }
            // Validated when the config was read; a value that fails here leaves the field as it was.
            if (try? annotation.apply(value, to: &options)) != nil { applied[key] = value }
        }
        return applied
    }
}

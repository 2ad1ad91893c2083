import IMCCache
import IMCModel

/// A cache as the store keeps it: the cache, and beside it the metadata the Kubernetes door keeps
/// of its object (nil for a cache never touched through that door). One JSON document, the
/// cache's fields with `kubernetes` among them, so that the cache itself knows nothing of any door.
public struct CacheDocument: Codable, Sendable, Equatable {
    public var cache: ImageCache
    public var kubernetes: KubernetesMetadata?

    public init(cache: ImageCache, kubernetes: KubernetesMetadata? = nil) {
        self.cache = cache
        self.kubernetes = kubernetes
    }

    enum CodingKeys: String, CodingKey { case kubernetes }

    public init(from decoder: any Decoder) throws {
        cache = try ImageCache(from: decoder)
        kubernetes = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(KubernetesMetadata.self, forKey: .kubernetes)
    }

    public func encode(to encoder: any Encoder) throws {
        try cache.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(kubernetes, forKey: .kubernetes)
    }
}

/// What a Kubernetes object keeps besides its spec (its uid, labels, annotations, generation,
/// namespace and the pull secrets it names). It belongs to the object a door serves, not to the
/// cache or instance under it: the store keeps it beside a cache's document
/// (`CacheDocument`), and an instance made from a Pod carries it.
public struct KubernetesMetadata: Codable, Sendable, Equatable {
    public var uid: String
    public var labels: [String: String]
    public var annotations: [String: String]
    /// Incremented at each change of the spec.
    public var generation: Int
    /// `namespace/name` of the secrets the images are pulled with.
    public var imagePullSecrets: [String]
    /// The object's namespace; nil for a cluster-scoped one.
    public var namespace: String?
    public init(
        uid: String, labels: [String: String] = [:], annotations: [String: String] = [:], generation: Int = 1,
        imagePullSecrets: [String] = [], namespace: String? = nil
    ) {
        self.namespace = namespace
        self.uid = uid
        self.labels = labels
        self.annotations = annotations
        self.generation = generation
        self.imagePullSecrets = imagePullSecrets
    }
}

/// A `v1` Namespace: a name, labels and annotations; its spec and status are the server's.
public struct Namespace: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: NamespaceSpec?
    public var status: NamespaceStatus?

    public init(metadata: ObjectMeta, spec: NamespaceSpec? = nil, status: NamespaceStatus? = nil) {
        apiVersion = "v1"
        kind = "Namespace"
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct NamespaceSpec: Codable, Sendable, Equatable {
    public var finalizers: [String]?
    public init(finalizers: [String]? = nil) { self.finalizers = finalizers }
}

public struct NamespaceStatus: Codable, Sendable, Equatable {
    /// `Active` or `Terminating` (written by the server; what a client sends is not read).
    public var phase: String?
    public init(phase: String? = nil) { self.phase = phase }
}

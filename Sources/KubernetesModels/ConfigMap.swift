/// A `v1` ConfigMap: `data` (text values) and `binaryData` (base64), read by Pods' environment
/// (`configMapKeyRef`, `envFrom`). `immutable: true` forbids any later change of its data.
public struct ConfigMap: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: [String: String]?
    public var binaryData: [String: String]?
    public var immutable: Bool?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        apiVersion = "v1"
        kind = "ConfigMap"
        self.metadata = metadata
        self.data = data
    }
}

extension ConfigMap: HasObjectMeta {}

/// A `v1` Secret as a client sends it: `data` (base64 values), `stringData` (plain values, folded
/// into `data` by the server), `type`. Secrets are never updated here, so `immutable` holds
/// whatever it says.
public struct Secret: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: [String: String]?
    public var stringData: [String: String]?
    public var type: String?
    public var immutable: Bool?

    public init(metadata: ObjectMeta, data: [String: String]? = nil, type: String? = nil) {
        apiVersion = "v1"
        kind = "Secret"
        self.metadata = metadata
        self.data = data
        self.type = type
    }
}

import IMCCache
import IMCInstance

/// One change of a watched row (a cache, an instance), as the store's history keeps it: what
/// happened, the value as that change left it (a deletion: as it was last), and its revision.
public struct StoreChange<Value: Sendable>: Sendable {
    /// As the history's `change` column writes it.
    public enum Kind: String, Sendable { case created, changed, deleted }
    public var kind: Kind
    public var value: Value
    public var revision: Int64
    public init(kind: Kind, value: Value, revision: Int64) {
        self.kind = kind
        self.value = value
        self.revision = revision
    }
}

public typealias CacheChange = StoreChange<CacheDocument>
public typealias InstanceChange = StoreChange<Instance>

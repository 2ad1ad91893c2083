import GRDB
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

public typealias CacheChange = StoreChange<ImageCache>
public typealias InstanceChange = StoreChange<Instance>

/// The history rows (`data`, `revision`, `change`) of one kind of row of an account after a
/// revision, in order; `decode` reads the rows' data (each with its revision).
enum History {
    static func changes<Value>(
        _ db: Database, kind: String, account: String, after revision: Int64, decode: ([Row]) throws -> [Value],
        revisionOf: (Value) -> Int64?
    ) throws -> [StoreChange<Value>] {
        let rows = try Row.fetchAll(
            db, sql: "SELECT data, revision, change FROM history WHERE kind = ? AND account = ? AND revision > ? ORDER BY revision",
            arguments: [kind, account, revision])
        return zip(try decode(rows), rows).map { value, row in
            StoreChange(kind: StoreChange<Value>.Kind(rawValue: row["change"]) ?? .changed, value: value, revision: revisionOf(value) ?? 0)
        }
    }
}

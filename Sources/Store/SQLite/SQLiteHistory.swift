import GRDB

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

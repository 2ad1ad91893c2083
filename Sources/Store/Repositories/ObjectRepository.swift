import Foundation

/// A Kubernetes object kept as it was written (namespaces, secrets): what imc holds only for its
/// Kubernetes door. `namespace` is "" for a cluster-scoped one.
public struct StoredObject: Sendable, Equatable {
    public var kind: String
    public var namespace: String
    public var name: String
    public var uid: String
    public var created: Date
    /// The object's JSON (a secret's with its data).
    public var data: Data
    public init(kind: String, namespace: String, name: String, uid: String, created: Date, data: Data) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.created = created
        self.data = data
    }
}

/// Where those objects are kept, per account (another account's never seen).
public protocol ObjectRepository: Sendable {
    /// Throws `StoreError(.duplicate)` when the name is taken.
    func insertObject(_ object: StoredObject, account: String) async throws
    func object(account: String, kind: String, namespace: String, name: String) async throws -> StoredObject?
    /// The objects of a kind, in one namespace or (nil) all, by name.
    func objects(account: String, kind: String, namespace: String?) async throws -> [StoredObject]
    @discardableResult
    func deleteObject(account: String, kind: String, namespace: String, name: String) async throws -> Bool
    /// Replaces the object's JSON if its stored JSON is still `expected` (what the change was
    /// computed from); false if it changed or went meanwhile.
    func replaceObject(_ object: StoredObject, expected: Data, account: String) async throws -> Bool
}

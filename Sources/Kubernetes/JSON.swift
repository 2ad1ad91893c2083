import IMCDocuments

/// The Kubernetes door's objects, patches and documents are `JSONValue`s.
public typealias JSON = JSONValue

extension JSONValue {
    /// Parses JSON text; nil when it is not JSON.
    static func parse(_ bytes: [UInt8]) -> JSONValue? { try? parseJSON(bytes) }
}

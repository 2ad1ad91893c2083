import Foundation

/// Encodes an `Encodable` value into a `JSONValue` (what selectors, patches and watches read):
/// written by `JSONBytesEncoder` and read back by `JSONParser`, so that an object has one JSON
/// form whichever of the two a door asks for. Optionals that are nil are left out, as
/// Foundation's encoder leaves them; dates are RFC 3339 in UTC, as Kubernetes writes them.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValue.parseJSON(try JSONBytesEncoder().encode(value))
    }
}

import Foundation

/// Encodes an `Encodable` value straight into a `JSONValue` (then written by its fast writer),
/// so that a typed model answers as fast as a tree built by hand. Optionals that are nil are left
/// out, as Foundation's encoder leaves them; dates are RFC 3339 in UTC, as Kubernetes writes them.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Slot()
        try root.encode(value, at: [])
        return root.value ?? .null
    }
}

/// Where one value goes: a scalar, or an object or a list filled by its containers.
final class Slot {
    var scalar: JSONValue?
    var object: [String: Slot]?
    var array: [Slot]?

    var value: JSONValue? {
        if let object { return .object(object.compactMapValues(\.value)) }
        if let array { return .array(array.map { $0.value ?? .null }) }
        return scalar
    }

    func encode<T: Encodable>(_ value: T, at path: [any CodingKey]) throws {
        // One conformance check for every scalar (a cast per type would be a dozen runtime
        // casts for each nested struct on the way to `encode(to:)`).
        if let v = value as? any JSONScalar {
            scalar = v.jsonValue
        } else {
            try value.encode(to: SlotEncoder(slot: self, codingPath: path))
        }
    }
}

/// The values written as one JSON scalar (or, for `JSONValue`, as themselves).
protocol JSONScalar { var jsonValue: JSONValue { get } }
extension JSONValue: JSONScalar { var jsonValue: JSONValue { self } }
extension String: JSONScalar { var jsonValue: JSONValue { .string(self) } }
extension Bool: JSONScalar { var jsonValue: JSONValue { .bool(self) } }
extension Double: JSONScalar { var jsonValue: JSONValue { .number(self) } }
extension Float: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension Int: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension Int64: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension Int32: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension Int16: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension Int8: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension UInt: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension UInt64: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension UInt32: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension UInt16: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension UInt8: JSONScalar { var jsonValue: JSONValue { .number(Double(self)) } }
extension Date: JSONScalar { var jsonValue: JSONValue { .string(formatted(.iso8601)) } }

struct SlotEncoder: Encoder {
    let slot: Slot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if slot.object == nil { slot.object = [:] }
        return KeyedEncodingContainer(SlotKeyed<Key>(slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if slot.array == nil { slot.array = [] }
        return SlotUnkeyed(slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SlotSingle(slot: slot, codingPath: codingPath) }
}

struct SlotKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let slot: Slot
    let codingPath: [any CodingKey]

    func child(_ key: Key) -> Slot {
        let child = Slot()
        slot.object?[key.stringValue] = child
        return child
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).scalar = .null }
    // The scalars a synthesized `encode(to:)` writes, each straight into its slot.
    mutating func encode(_ value: String, forKey key: Key) throws { child(key).scalar = .string(value) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).scalar = .bool(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { child(key).scalar = .number(Double(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).scalar = .number(Double(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { child(key).scalar = .number(value) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { if let value { child(key).scalar = .string(value) } }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { if let value { child(key).scalar = .bool(value) } }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { if let value { child(key).scalar = .number(Double(value)) } }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        if let value { child(key).scalar = .number(Double(value)) }
    }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { if let value { child(key).scalar = .number(value) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try child(key).encode(value, at: codingPath + [key]) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
        NestedKey
    > {
        SlotEncoder(slot: child(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        SlotEncoder(slot: child(key), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { SlotEncoder(slot: slot, codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { SlotEncoder(slot: child(key), codingPath: codingPath + [key]) }
}

struct SlotUnkeyed: UnkeyedEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]
    var count: Int { slot.array?.count ?? 0 }

    func next() -> Slot {
        let child = Slot()
        slot.array?.append(child)
        return child
    }

    mutating func encodeNil() throws { next().scalar = .null }
    mutating func encode(_ value: String) throws { next().scalar = .string(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try next().encode(value, at: codingPath) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        SlotEncoder(slot: next(), codingPath: codingPath).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        SlotEncoder(slot: next(), codingPath: codingPath).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { SlotEncoder(slot: next(), codingPath: codingPath) }
}

struct SlotSingle: SingleValueEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.scalar = .null }
    mutating func encode(_ value: String) throws { slot.scalar = .string(value) }
    mutating func encode(_ value: Bool) throws { slot.scalar = .bool(value) }
    mutating func encode(_ value: Int) throws { slot.scalar = .number(Double(value)) }
    mutating func encode(_ value: Int64) throws { slot.scalar = .number(Double(value)) }
    mutating func encode(_ value: Double) throws { slot.scalar = .number(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try slot.encode(value, at: codingPath) }
}

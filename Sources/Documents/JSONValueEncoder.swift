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
        switch value {
        case let v as JSONValue: scalar = v
        case let v as String: scalar = .string(v)
        case let v as Bool: scalar = .bool(v)
        case let v as Int: scalar = .number(Double(v))
        case let v as Int64: scalar = .number(Double(v))
        case let v as Int32: scalar = .number(Double(v))
        case let v as UInt32: scalar = .number(Double(v))
        case let v as Double: scalar = .number(v)
        case let v as Float: scalar = .number(Double(v))
        case let v as UInt: scalar = .number(Double(v))
        case let v as UInt64: scalar = .number(Double(v))
        case let v as UInt16: scalar = .number(Double(v))
        case let v as UInt8: scalar = .number(Double(v))
        case let v as Int16: scalar = .number(Double(v))
        case let v as Int8: scalar = .number(Double(v))
        case let v as Date: scalar = .string(v.formatted(.iso8601))
        default: try value.encode(to: SlotEncoder(slot: self, codingPath: path))
        }
    }
}

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
    mutating func encode<T: Encodable>(_ value: T) throws { try slot.encode(value, at: codingPath) }
}

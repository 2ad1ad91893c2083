import Foundation

/// Encodes an `Encodable` value straight to JSON text, with no tree between: the door's lists
/// and tables of a thousand typed objects are written as fast as trees built by hand. Keys come
/// in the order the type encodes them; nil optionals are left out (as Foundation's encoder
/// does); dates are RFC 3339 in UTC; a value that encodes nothing is left out with its key (as
/// `JSONValueEncoder` does).
public struct JSONBytesEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = ByteWriter()
        writer.bytes.reserveCapacity(4096)
        try writer.value(value, depth: 0)
        writer.close(to: 0)
        if writer.bytes.isEmpty { writer.bytes = Array("null".utf8) }
        return writer.bytes
    }
}

/// The text written so far and the containers still open. A container is closed when a value is
/// written to one of its ancestors (Codable opens a nested container, fills it, and never says
/// it is done) or at the end.
final class ByteWriter {
    var bytes: [UInt8] = []
    /// Open containers, outermost first: an object or a list, and whether it has a member yet.
    var open: [(object: Bool, filled: Bool)] = []

    func close(to depth: Int) {
        while open.count > depth { bytes.append(open.removeLast().object ? UInt8(ascii: "}") : UInt8(ascii: "]")) }
    }

    /// Starts a member of the container at `depth` (its key, for an object); returns where it
    /// began, so that a value that wrote nothing can be taken back.
    func member(of depth: Int, key: String?) -> (start: Int, filled: Bool) {
        close(to: depth)
        let start = bytes.count
        let filled = open[depth - 1].filled
        if filled { bytes.append(UInt8(ascii: ",")) }
        open[depth - 1].filled = true
        if let key {
            JSONValue.writeString(key, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
        }
        return (start, filled)
    }

    /// Takes back a member whose value wrote nothing.
    func takeBack(_ member: (start: Int, filled: Bool), of depth: Int, ifEmptySince mark: Int) {
        guard bytes.count == mark else { return }
        bytes.removeSubrange(member.start...)
        open[depth - 1].filled = member.filled
    }

    func begin(object: Bool) {
        bytes.append(object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        open.append((object, false))
    }

    func scalar(_ value: JSONValue) { value.write(into: &bytes) }

    /// A value at the current position (after its key, or as an item, or the whole document).
    func value<T: Encodable>(_ value: T, depth: Int) throws {
        if let v = value as? any JSONScalar {
            v.jsonValue.write(into: &bytes)
        } else {
            try value.encode(to: ByteEncoder(writer: self, depth: depth))
        }
    }

    /// A member's value: written, or taken back with its key when it wrote nothing.
    func member<T: Encodable>(_ value: T, of depth: Int, key: String?) throws {
        let started = member(of: depth, key: key)
        let mark = bytes.count
        try self.value(value, depth: depth)
        // The value is whole once its encode(to:) returns: what it opened is closed.
        close(to: depth)
        takeBack(started, of: depth, ifEmptySince: mark)
    }
}

/// The encoder of one value, at `depth` (the number of containers open around it).
struct ByteEncoder: Encoder {
    let writer: ByteWriter
    let depth: Int
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// The value's own container: opened once (a second call for the same value reuses it).
    private func opening(object: Bool) -> Int {
        if writer.open.count == depth { writer.begin(object: object) }
        return depth + 1
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(ByteKeyed<Key>(writer: writer, depth: opening(object: true)))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { ByteUnkeyed(writer: writer, depth: opening(object: false)) }

    func singleValueContainer() -> any SingleValueEncodingContainer { ByteSingle(writer: writer, depth: depth) }
}

struct ByteKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: ByteWriter
    /// The depth of this container (it is `open[depth - 1]`).
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    private func put(_ key: Key, _ value: JSONValue) {
        _ = writer.member(of: depth, key: key.stringValue)
        writer.scalar(value)
    }

    mutating func encodeNil(forKey key: Key) throws { put(key, .null) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(key, .string(value)) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(key, .bool(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(key, .number(Double(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(key, .number(Double(value))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(key, .number(value)) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { if let value { put(key, .string(value)) } }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { if let value { put(key, .bool(value)) } }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { if let value { put(key, .number(Double(value))) } }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { if let value { put(key, .number(Double(value))) } }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { if let value { put(key, .number(value)) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try writer.member(value, of: depth, key: key.stringValue)
    }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
        NestedKey
    > {
        _ = writer.member(of: depth, key: key.stringValue)
        return ByteEncoder(writer: writer, depth: depth).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        _ = writer.member(of: depth, key: key.stringValue)
        return ByteEncoder(writer: writer, depth: depth).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder {
        _ = writer.member(of: depth, key: "super")
        return ByteEncoder(writer: writer, depth: depth)
    }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        _ = writer.member(of: depth, key: key.stringValue)
        return ByteEncoder(writer: writer, depth: depth)
    }
}

struct ByteUnkeyed: UnkeyedEncodingContainer {
    let writer: ByteWriter
    let depth: Int
    private(set) var count = 0
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws {
        _ = writer.member(of: depth, key: nil)
        writer.scalar(.null)
        count += 1
    }
    mutating func encode(_ value: String) throws {
        _ = writer.member(of: depth, key: nil)
        writer.scalar(.string(value))
        count += 1
    }
    mutating func encode<T: Encodable>(_ value: T) throws {
        // An item that writes nothing is null in a list (its place is kept).
        _ = writer.member(of: depth, key: nil)
        let mark = writer.bytes.count
        try writer.value(value, depth: depth)
        writer.close(to: depth)
        if writer.bytes.count == mark { writer.scalar(.null) }
        count += 1
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        _ = writer.member(of: depth, key: nil)
        count += 1
        return ByteEncoder(writer: writer, depth: depth).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        _ = writer.member(of: depth, key: nil)
        count += 1
        return ByteEncoder(writer: writer, depth: depth).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder {
        _ = writer.member(of: depth, key: nil)
        count += 1
        return ByteEncoder(writer: writer, depth: depth)
    }
}

struct ByteSingle: SingleValueEncodingContainer {
    let writer: ByteWriter
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { writer.scalar(.null) }
    mutating func encode(_ value: String) throws { writer.scalar(.string(value)) }
    mutating func encode(_ value: Bool) throws { writer.scalar(.bool(value)) }
    mutating func encode(_ value: Int) throws { writer.scalar(.number(Double(value))) }
    mutating func encode(_ value: Int64) throws { writer.scalar(.number(Double(value))) }
    mutating func encode(_ value: Double) throws { writer.scalar(.number(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try writer.value(value, depth: depth) }
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

/// The one decoder every input goes through: a Cloud API request's body, the service's config
/// file, a manifest (`imc apply -f`, `imc run -f`), a Kubernetes object, Docker's config.json.
/// It reads a parsed `JSONValue` into a `Decodable` type and refuses, by the field's path:
/// a field the type does not have (`unknownFields: .refuse`), a value of the wrong type (a
/// string where a number goes, 1.5 where an integer goes, `"true"` where a boolean goes), a
/// required field that is absent or null. A type adds its own checks in its `init(from:)`,
/// throwing `decoder.problem(...)`, so that they too name the field.
///
/// Each door turns a `DecodingProblem` into its own error (the Cloud API's `UnknownParameter`,
/// `InvalidParameter`, `MissingParameter`; a Kubernetes `Status` cause; a line of a config error).
public struct StrictDecoder: Sendable {
    public enum UnknownFields: Sendable {
        /// A field the type does not read is refused (the default: nothing is accepted and then ignored).
        case refuse
        /// Fields the type does not read are skipped (documents others write: registries' manifests).
        case ignore
    }

    public var unknownFields: UnknownFields

    public init(unknownFields: UnknownFields = .refuse) { self.unknownFields = unknownFields }

    /// `value` as a `T`, or the first problem found (in reading order; unknown fields after).
    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, at path: FieldPath = FieldPath([])) throws(DecodingProblem)
        -> T
    {
        let state = DecodingState(refuseUnknown: unknownFields == .refuse)
        do {
            let result = try state.unbox(type, value, path)
            try state.checkUnknownFields()
            // A type with no fields reads no object at all: every field sent to it is unknown.
            if state.refuseUnknown, state.objects.isEmpty, case .object(let fields) = value, let first = fields.keys.sorted().first {
                throw DecodingProblem(.unknownField, at: path.key(first))
            }
            return result
        } catch let problem as DecodingProblem {
            throw problem
        } catch let error as DecodingError {
            throw DecodingProblem(error)
        } catch {
            throw DecodingProblem(.invalid("\(error)"), at: path)
        }
    }

    /// JSON text (`bytes`) as a `T`; text that is not JSON is a problem at the root.
    public func decode<T: Decodable>(_ type: T.Type, json bytes: some Collection<UInt8>) throws(DecodingProblem) -> T {
        let value: JSONValue
        do { value = try JSONValue.parseJSON(bytes) } catch { throw DecodingProblem(.unreadable(error.message), at: FieldPath([])) }
        return try decode(type, from: value)
    }
}

/// What was wrong with an input, and where.
public struct DecodingProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A required field is absent or null.
        case missing
        /// The value is not of the field's type (`expected` reads "a string", "an integer", ...).
        case wrongType(expected: String)
        /// The type has no such field.
        case unknownField
        /// The value has the right type but is not allowed (the reason reads after the path).
        case invalid(String)
        /// The text could not be read at all (not JSON, not YAML).
        case unreadable(String)
    }

    public var kind: Kind
    public var path: FieldPath
    /// The value found, when there was one.
    public var value: JSONValue?

    public init(_ kind: Kind, at path: FieldPath, value: JSONValue? = nil) {
        self.kind = kind
        self.path = path
        self.value = value
    }

    /// A problem a type's own `init(from:)` described as Foundation's decoders do.
    public init(_ error: DecodingError) {
        switch error {
        case .keyNotFound(let key, let context): self.init(.missing, at: FieldPath(codingPath: context.codingPath + [key]))
        case .typeMismatch(let type, let context): self.init(.wrongType(expected: "\(type)"), at: FieldPath(codingPath: context.codingPath))
        case .valueNotFound(_, let context): self.init(.missing, at: FieldPath(codingPath: context.codingPath))
        case .dataCorrupted(let context): self.init(.invalid(context.debugDescription), at: FieldPath(codingPath: context.codingPath))
        @unknown default: self.init(.invalid("\(error)"), at: FieldPath([]))
        }
    }

    /// `Containers[0].Image is required`, `Limit must be an integer, not "5"`,
    /// `Colour is not a field`, `RestartPolicy "Sometimes" is not one of Always, Never`.
    public var message: String {
        let subject = path.components.isEmpty ? "the document" : path.description
        switch kind {
        case .missing: return "\(subject) is required"
        case .wrongType(let expected):
            // A secret's value (a password written as a number) is never echoed into a response,
            // an event or a log: only its kind is named.
            let found = path.namesSecret ? (value?.kindName ?? "null") : (value?.shown ?? "null")
            return "\(subject) must be \(expected), not \(found)"
        case .unknownField: return "\(subject) is not a field"
        case .invalid(let why): return path.components.isEmpty ? why : "\(subject) \(why)"
        case .unreadable(let why): return path.components.isEmpty ? why : "\(subject): \(why)"
        }
    }

    public var description: String { message }
}

extension Decoder {
    /// A problem with this value's field `key` (thrown from a type's `init(from:)`).
    public func problem(_ kind: DecodingProblem.Kind, at key: (any CodingKey)? = nil, value: JSONValue? = nil) -> DecodingProblem {
        DecodingProblem(kind, at: FieldPath(codingPath: codingPath + (key.map { [$0] } ?? [])), value: value)
    }
}

extension FieldPath {
    /// Whether the field holds a secret (a password, a secret key, a token, a registry `auth`),
    /// whose value messages must not repeat.
    var namesSecret: Bool {
        guard case .key(let last)? = components.last else { return false }
        let key = last.lowercased()
        return key.contains("password") || key.contains("secret") || key.contains("token") || key == "auth"
    }

    /// The path of a Codable coding path (integer keys are indexes).
    public init(codingPath: [any CodingKey]) {
        self.init(codingPath.map { key in key.intValue.map { .index($0) } ?? .key(key.stringValue) })
    }

    var codingPath: [any CodingKey] {
        components.map { c in
            switch c {
            case .key(let k): PathKey(stringValue: k)
            case .index(let i): PathKey(intValue: i)
            }
        }
    }
}

/// A key of a coding path: a field's name or a list's index.
struct PathKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }
    init(intValue: Int) {
        stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

/// A field whose value is one of a fixed set of names: a value outside it is refused, naming them
/// (`RestartPolicy "Sometimes" is not one of Always, OnFailure, Never`).
public protocol StrictEnum: RawRepresentable, CaseIterable, Decodable where RawValue == String {}

extension StrictEnum {
    static func strictly(_ text: String, at path: FieldPath) throws(DecodingProblem) -> Self {
        guard let v = Self(rawValue: text) else {
            throw DecodingProblem(
                .invalid("\"\(text.prefix(60))\" is not one of \(allCases.map(\.rawValue).joined(separator: ", "))"), at: path,
                value: .string(text))
        }
        return v
    }
}

/// A type's name in a problem's message: "a string", "an integer", "a list of objects".
protocol StrictlyNamed {
    static var strictName: String { get }
}

extension Array: StrictlyNamed {
    static var strictName: String {
        switch Element.self {
        case is String.Type: "a list of strings"
        case is any BinaryInteger.Type: "a list of integers"
        case is any BinaryFloatingPoint.Type: "a list of numbers"
        case is Bool.Type: "a list of true or false"
        case is any StrictlyNamed.Type: "a list"
        default: "a list of objects"
        }
    }
}

extension Dictionary: StrictlyNamed {
    static var strictName: String { Value.self is String.Type ? "a map of strings" : "an object" }
}

extension Set: StrictlyNamed {
    static var strictName: String { Element.self is String.Type ? "a list of strings" : "a list" }
}

/// The fields of one object the type read, to refuse the ones it did not.
final class ObjectFields {
    let path: FieldPath
    let keys: Dictionary<String, JSONValue>.Keys
    var read: Set<String> = []
    init(path: FieldPath, keys: Dictionary<String, JSONValue>.Keys) {
        self.path = path
        self.keys = keys
    }
}

/// One decode's state: the objects opened (when unknown fields are refused).
final class DecodingState {
    let refuseUnknown: Bool
    var objects: [ObjectFields] = []

    init(refuseUnknown: Bool) { self.refuseUnknown = refuseUnknown }

    func checkUnknownFields() throws(DecodingProblem) {
        guard refuseUnknown else { return }
        for object in objects where object.read.count < object.keys.count {
            if let unknown = object.keys.sorted().first(where: { !object.read.contains($0) }) {
                throw DecodingProblem(.unknownField, at: object.path.key(unknown))
            }
        }
    }

    func fields(_ path: FieldPath, _ object: [String: JSONValue]) -> ObjectFields? {
        guard refuseUnknown else { return nil }
        let fields = ObjectFields(path: path, keys: object.keys)
        objects.append(fields)
        return fields
    }

    /// `value` (at `path`) as a `T`: scalars read here, JSON kept as is, everything else by its
    /// own `init(from:)` over a decoder of this value.
    func unbox<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: FieldPath) throws -> T {
        if T.self == JSONValue.self { return value as! T }
        if T.self == String.self { return try string(value, path) as! T }
        if T.self == Bool.self {
            guard case .bool(let b) = value else { throw DecodingProblem(.wrongType(expected: "true or false"), at: path, value: value) }
            return b as! T
        }
        if T.self == Double.self { return try number(value, path) as! T }
        if T.self == Float.self { return Float(try number(value, path)) as! T }
        if let integer = T.self as? any FixedWidthInteger.Type { return try self.integer(integer, value, path) as! T }
        if let choice = T.self as? any StrictEnum.Type { return try choice.strictly(try string(value, path), at: path) as! T }
        if let named = T.self as? any StrictlyNamed.Type {
            let isList = named.strictName.hasPrefix("a list")
            switch value {
            case .array where isList: break
            case .object where !isList: break
            default: throw DecodingProblem(.wrongType(expected: named.strictName), at: path, value: value)
            }
        }
        return try T(from: ValueDecoder(state: self, value: value, path: path))
    }

    func string(_ value: JSONValue, _ path: FieldPath) throws(DecodingProblem) -> String {
        guard case .string(let s) = value else { throw DecodingProblem(.wrongType(expected: "a string"), at: path, value: value) }
        return s
    }

    func number(_ value: JSONValue, _ path: FieldPath) throws(DecodingProblem) -> Double {
        guard case .number(let n) = value, n.isFinite else {
            throw DecodingProblem(.wrongType(expected: "a number"), at: path, value: value)
        }
        return n
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: JSONValue, _ path: FieldPath) throws(DecodingProblem) -> I {
        guard case .number(let n) = value, n == n.rounded(), abs(n) < 1e15 else {
            throw DecodingProblem(.wrongType(expected: "an integer"), at: path, value: value)
        }
        guard let i = I(exactly: n) else {
            throw DecodingProblem(.invalid("must be from \(I.min) to \(I.max), not \(value.shown)"), at: path, value: value)
        }
        return i
    }
}

/// A decoder of one value.
struct ValueDecoder: Decoder {
    let state: DecodingState
    let value: JSONValue
    let path: FieldPath

    var codingPath: [any CodingKey] { path.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            throw DecodingProblem(.wrongType(expected: "an object"), at: path, value: value)
        }
        return KeyedDecodingContainer(ObjectContainer<Key>(state: state, object: object, path: path, fields: state.fields(path, object)))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw DecodingProblem(.wrongType(expected: "a list"), at: path, value: value) }
        return ListContainer(state: state, items: items, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleContainer(state: state, value: value, path: path) }
}

struct ObjectContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: DecodingState
    let object: [String: JSONValue]
    let path: FieldPath
    let fields: ObjectFields?

    var codingPath: [any CodingKey] { path.codingPath }
    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool {
        guard object[key.stringValue] != nil else { return false }
        fields?.read.insert(key.stringValue)
        return true
    }

    /// The key's value; absent and null are both "not given".
    func present(_ key: Key) -> JSONValue? {
        guard let v = object[key.stringValue] else { return nil }
        fields?.read.insert(key.stringValue)
        return v == .null ? nil : v
    }

    func required(_ key: Key) throws(DecodingProblem) -> JSONValue {
        guard let v = present(key) else { throw DecodingProblem(.missing, at: path.key(key.stringValue)) }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { present(key) == nil }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        if T.self == JSONValue.self, present(key) == nil { return JSONValue.null as! T }
        return try state.unbox(type, try required(key), path.key(key.stringValue))
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = present(key) else { return nil }
        return try state.unbox(type, v, path.key(key.stringValue))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(state: state, value: try required(key), path: path.key(key.stringValue)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(state: state, value: try required(key), path: path.key(key.stringValue)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { ValueDecoder(state: state, value: .object(object), path: path) }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(state: state, value: present(key) ?? .null, path: path.key(key.stringValue))
    }
}

struct ListContainer: UnkeyedDecodingContainer {
    let state: DecodingState
    let items: [JSONValue]
    let path: FieldPath
    var currentIndex = 0

    init(state: DecodingState, items: [JSONValue], path: FieldPath) {
        self.state = state
        self.items = items
        self.path = path
    }

    var codingPath: [any CodingKey] { path.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func next() throws -> (JSONValue, FieldPath) {
        guard !isAtEnd else { throw DecodingProblem(.missing, at: path.index(currentIndex)) }
        defer { currentIndex += 1 }
        return (items[currentIndex], path.index(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, at) = try next()
        return try state.unbox(type, value, at)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, at) = try next()
        return try ValueDecoder(state: state, value: value, path: at).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, at) = try next()
        return try ValueDecoder(state: state, value: value, path: at).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, at) = try next()
        return ValueDecoder(state: state, value: value, path: at)
    }
}

struct SingleContainer: SingleValueDecodingContainer {
    let state: DecodingState
    let value: JSONValue
    let path: FieldPath

    var codingPath: [any CodingKey] { path.codingPath }

    func decodeNil() -> Bool { value == .null }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if value == .null && T.self != JSONValue.self { throw DecodingProblem(.missing, at: path) }
        return try state.unbox(type, value, path)
    }
}

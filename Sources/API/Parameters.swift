import Foundation

/// A request's JSON body, read field by field with the type each field must have. Every
/// mistake names the field and the value: a missing required field is `MissingParameter`, a
/// field of the wrong type `InvalidParameter`, a field the action does not take
/// `UnknownParameter` (checked by `finish()` once the action has read what it knows).
public struct Parameters {
    private let object: [String: Any]
    private var read: Set<String> = []

    /// Parses a body (an empty body is an empty object).
    public init(body: [UInt8]) throws(APIError) {
        if body.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }) {
            object = [:]
            return
        }
        guard let o = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw .invalidParameter("the request body is not a JSON object")
        }
        object = o
    }

    public init(_ object: [String: Any]) { self.object = object }

    private mutating func value(_ name: String) -> Any? {
        read.insert(name)
        guard let v = object[name], !(v is NSNull) else { return nil }
        return v
    }

    /// JSON `true`/`false` (Foundation hands them over as char-typed NSNumbers).
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    static func show(_ v: Any) -> String {
        if let s = v as? String { return "\"\(String(s.prefix(100)))\"" }
        if let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]) {
            return String(decoding: data.prefix(100), as: UTF8.self)
        }
        return "\(v)"
    }

    public mutating func string(_ name: String) throws(APIError) -> String? {
        guard let v = value(name) else { return nil }
        guard let s = v as? String else { throw .invalidParameter("\(name) must be a string, not \(Self.show(v))") }
        return s
    }

    public mutating func requiredString(_ name: String) throws(APIError) -> String {
        guard let s = try string(name) else { throw .missingParameter("\(name) is required") }
        return s
    }

    public mutating func int(_ name: String) throws(APIError) -> Int? {
        guard let v = value(name) else { return nil }
        guard let n = v as? NSNumber, !Self.isBool(n), n.doubleValue == n.doubleValue.rounded(),
            abs(n.doubleValue) < 1e15
        else { throw .invalidParameter("\(name) must be an integer, not \(Self.show(v))") }
        return n.intValue
    }

    public mutating func double(_ name: String) throws(APIError) -> Double? {
        guard let v = value(name) else { return nil }
        guard let n = v as? NSNumber, !Self.isBool(n), n.doubleValue.isFinite else {
            throw .invalidParameter("\(name) must be a number, not \(Self.show(v))")
        }
        return n.doubleValue
    }

    /// Any JSON value (fields accepted for compatibility, kept or passed on but not interpreted).
    public mutating func json(_ name: String) -> JSONValue? {
        guard let v = value(name) else { return nil }
        return JSONValue(foundation: v)
    }

    /// Any JSON value, kept as its JSON text (fields accepted for compatibility, not interpreted).
    public mutating func rawValue(_ name: String) -> String? {
        guard let v = value(name) else { return nil }
        guard let data = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    public mutating func bool(_ name: String) throws(APIError) -> Bool? {
        guard let v = value(name) else { return nil }
        guard let n = v as? NSNumber, Self.isBool(n) else {
            throw .invalidParameter("\(name) must be true or false, not \(Self.show(v))")
        }
        return n.boolValue
    }

    public mutating func strings(_ name: String) throws(APIError) -> [String]? {
        guard let v = value(name) else { return nil }
        guard let list = v as? [Any] else { throw .invalidParameter("\(name) must be a list of strings, not \(Self.show(v))") }
        var out: [String] = []
        for (i, item) in list.enumerated() {
            guard let s = item as? String else { throw .invalidParameter("\(name)[\(i)] must be a string, not \(Self.show(item))") }
            out.append(s)
        }
        return out
    }

    /// A list of objects, each read with its own `Parameters` (unknown fields in them refused too).
    public mutating func objects<T>(_ name: String, _ each: (inout Parameters, String) throws(APIError) -> T) throws(APIError) -> [T]? {
        guard let v = value(name) else { return nil }
        guard let list = v as? [Any] else { throw .invalidParameter("\(name) must be a list of objects, not \(Self.show(v))") }
        var out: [T] = []
        for (i, item) in list.enumerated() {
            guard let o = item as? [String: Any] else { throw .invalidParameter("\(name)[\(i)] must be an object, not \(Self.show(item))") }
            var p = Parameters(o)
            let path = "\(name)[\(i)]"
            out.append(try p.prefixed(path) { (q: inout Parameters) throws(APIError) -> T in try each(&q, path) })
            try p.finish(prefix: path + ".")
        }
        return out
    }

    /// `value` as one of `E`'s cases, or an error naming the field, the value and the cases.
    public static func oneOf<E: RawRepresentable & CaseIterable>(_ value: String, field: String) throws(APIError) -> E
    where E.RawValue == String {
        guard let v = E(rawValue: value) else {
            throw .invalidParameterValue(
                "\(field) \"\(value.prefix(60))\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    /// A string field that must be one of `E`'s cases.
    public mutating func oneOf<E: RawRepresentable & CaseIterable>(_ name: String) throws(APIError) -> E? where E.RawValue == String {
        guard let s = try string(name) else { return nil }
        return try Self.oneOf(s, field: name)
    }

    /// The Cloud API's `Filters`: a list of `{Name, Values}`.
    public mutating func filters() throws(APIError) -> [(name: String, values: [String])]? {
        try objects("Filters") { (f: inout Parameters, _: String) throws(APIError) -> (name: String, values: [String]) in
            (try f.requiredString("Name"), try f.strings("Values") ?? [])
        }
    }

    /// An object, read with its own `Parameters`.
    public mutating func object<T>(_ name: String, _ read: (inout Parameters) throws(APIError) -> T) throws(APIError) -> T? {
        guard let v = value(name) else { return nil }
        guard let o = v as? [String: Any] else { throw .invalidParameter("\(name) must be an object, not \(Self.show(v))") }
        var p = Parameters(o)
        let result = try p.prefixed(name) { (q: inout Parameters) throws(APIError) -> T in try read(&q) }
        try p.finish(prefix: name + ".")
        return result
    }

    /// Runs `body`, prefixing the field names of its errors with `path`.
    mutating func prefixed<T>(_ path: String, _ body: (inout Parameters) throws(APIError) -> T) throws(APIError) -> T {
        do { return try body(&self) } catch {
            var e = error
            if !e.message.hasPrefix(path) { e.message = "\(path).\(e.message)" }
            throw e
        }
    }

    /// An object, kept as a JSON value (fields the service stores but does not interpret).
    public mutating func objectValue(_ name: String) throws(APIError) -> JSONValue? {
        guard let v = value(name) else { return nil }
        guard v is [String: Any], let json = JSONValue(foundation: v) else {
            throw .invalidParameter("\(name) must be an object, not \(Self.show(v))")
        }
        return json
    }

    /// An object kept as its JSON text (fields the service stores but does not interpret).
    public mutating func rawObject(_ name: String) throws(APIError) -> String? {
        guard let v = value(name) else { return nil }
        guard v is [String: Any], let data = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]) else {
            throw .invalidParameter("\(name) must be an object, not \(Self.show(v))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Refuses any field that was not read.
    public func finish(prefix: String = "") throws(APIError) {
        if let unknown = object.keys.sorted().first(where: { !read.contains($0) }) {
            throw .unknownParameter("\(prefix)\(unknown) is not a parameter of this action")
        }
    }
}

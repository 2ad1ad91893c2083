import Foundation

/// Building, reading and writing `JSONValue`s: literals, member access, RFC 7386 merge
/// patches, and JSON text written directly (keys sorted; faster than Foundation's encoder on the
/// lists of a thousand objects the Kubernetes door serves).
extension JSONValue {
    /// The value as JSON text, keys sorted (written directly: lists of a thousand objects are
    /// served, and Foundation's encoder is several times slower).
    public var data: Data { Data(bytes) }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out)
        return out
    }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let d):
            if d.isFinite {
                out.append(contentsOf: (d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)").utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                o[key]!.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most text needs no escape: written in one go.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0x0A:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "n"))
            case 0x0D:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "r"))
            case 0x09:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex.utf8Start[Int(byte >> 4)])
                out.append(hex.utf8Start[Int(byte & 15)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    public subscript(key: String) -> JSONValue? {
        get { if case .object(let o) = self { o[key] } else { nil } }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    /// The item at `index` of a list (nil past its end, or for a value that is not a list); set
    /// replaces an existing item.
    public subscript(index: Int) -> JSONValue? {
        get { if case .array(let a) = self, a.indices.contains(index) { a[index] } else { nil } }
        set {
            guard case .array(var a) = self, a.indices.contains(index), let newValue else { return }
            a[index] = newValue
            self = .array(a)
        }
    }

    public var int: Int64? {
        if case .number(let d) = self, d == d.rounded(), abs(d) < 1e15 { return Int64(d) }
        return nil
    }

    /// An integer (JSON numbers are doubles: exact to 2^53).
    public static func int(_ value: Int64) -> JSONValue { .number(Double(value)) }

    /// A map of strings (labels, annotations); nil when it is something else.
    public var stringMap: [String: String]? {
        guard let o = object else { return nil }
        var out: [String: String] = [:]
        for (k, v) in o {
            guard let s = v.string else { return nil }
            out[k] = s
        }
        return out
    }

    /// RFC 7386: `patch` merged into `self` (null removes a key; anything but an object replaces).
    public func merging(patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var target = object ?? [:]
        for (key, value) in p {
            if value == .null {
                target[key] = nil
            } else {
                target[key] = (target[key] ?? .null).merging(patch: value)
            }
        }
        return .object(target)
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
}

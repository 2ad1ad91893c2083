import Foundation

/// Any JSON value: a parsed document (a request's body, a manifest, a Kubernetes object) before
/// the strict decoder reads it into its type, or a field kept without being interpreted.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// JSON `true`/`false` (Foundation hands them over as char-typed NSNumbers).
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    /// The value of a JSON object Foundation parsed (`JSONSerialization`).
    public init?(foundation value: Any) {
        switch value {
        case is NSNull: self = .null
        case let s as String: self = .string(s)
        case let n as NSNumber where Self.isBool(n): self = .bool(n.boolValue)
        case let n as NSNumber: self = .number(n.doubleValue)
        case let a as [Any]:
            var out: [JSONValue] = []
            for v in a {
                guard let j = JSONValue(foundation: v) else { return nil }
                out.append(j)
            }
            self = .array(out)
        case let o as [String: Any]:
            var out: [String: JSONValue] = [:]
            for (k, v) in o {
                guard let j = JSONValue(foundation: v) else { return nil }
                out[k] = j
            }
            self = .object(out)
        default: return nil
        }
    }
}

import Foundation
import IMCAPI
import Yams

/// The Kubernetes door's objects, patches and documents are `JSONValue`s (IMCAPI's).
public typealias JSON = JSONValue

extension JSONValue {
    /// Parses JSON text; nil when it is not JSON.
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// Parses YAML (of which JSON is a part); nil when it is neither, or when its aliases would
    /// make it larger than `budget` values (a "billion laughs" document is refused, not expanded).
    static func parseYAML(_ text: String, budget: Int = 100_000) -> JSONValue? {
        guard let node = try? Yams.compose(yaml: text) else { return nil }
        var left = budget
        return JSONValue(yaml: node, budget: &left)
    }

    init?(yaml node: Yams.Node, budget: inout Int) {
        budget -= 1
        guard budget >= 0 else { return nil }
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if s.string == "null" || s.string == "~" || s.string.isEmpty {
                    self = .null
                    return
                }
                if let b = Bool.construct(from: s) {
                    self = .bool(b)
                    return
                }
                if let i = Int64(s.string) {
                    self = .number(Double(i))
                    return
                }
                if let d = Double.construct(from: s), s.string.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                    self = .number(d)
                    return
                }
            }
            self = .string(s.string)
        case .sequence(let seq):
            var out: [JSONValue] = []
            for item in seq {
                guard let v = JSONValue(yaml: item, budget: &budget) else { return nil }
                out.append(v)
            }
            self = .array(out)
        case .mapping(let map):
            var out: [String: JSONValue] = [:]
            for (k, v) in map {
                guard let key = k.string, let value = JSONValue(yaml: v, budget: &budget) else { return nil }
                out[key] = value
            }
            self = .object(out)
        case .alias: return nil
        }
    }
}

import Foundation
import Yams

/// Reading JSON and YAML text into `JSONValue`s, bounded: a document deeper than
/// `JSONValue.maximumDepth` or (YAML) one whose aliases would expand past a budget of values is
/// refused, not built (a hostile body must not take the stack or the memory of the service).
extension JSONValue {
    /// The most nested arrays and objects a document may have.
    public static let maximumDepth = 200

    /// Parses JSON text; the error says why it is not JSON.
    public static func parseJSON(_ bytes: some Collection<UInt8>) throws(DocumentError) -> JSONValue {
        try JSONParser.parse(bytes)
    }

    /// Parses one YAML document (of which JSON is a part); nil for an empty document.
    public static func parseYAML(_ text: String, budget: Int = 100_000) throws(DocumentError) -> JSONValue? {
        let node: Yams.Node?
        do { node = try Yams.compose(yaml: text) } catch { throw DocumentError("not valid YAML: \(Self.yamlProblem(error))") }
        guard let node else { return nil }
        var left = budget
        return try JSONValue(yaml: node, budget: &left, depth: 0)
    }

    /// Parses every document of a YAML stream (`---` between them); empty documents are skipped.
    public static func parseYAMLDocuments(_ text: String, budget: Int = 100_000) throws(DocumentError) -> [JSONValue] {
        var out: [JSONValue] = []
        var left = budget
        do {
            for node in try Yams.compose_all(yaml: text) {
                out.append(try JSONValue(yaml: node, budget: &left, depth: 0))
            }
        } catch let e as DocumentError {
            throw e
        } catch {
            throw DocumentError("not valid YAML: \(Self.yamlProblem(error))")
        }
        return out
    }

    static func yamlProblem(_ error: any Error) -> String { String("\(error)".prefix(300)) }

    /// A YAML node as JSON: plain scalars typed as YAML 1.2's core schema types them (null,
    /// true/false, integers, floats), everything else a string; keys must be strings.
    init(yaml node: Yams.Node, budget: inout Int, depth: Int) throws(DocumentError) {
        budget -= 1
        guard budget >= 0 else { throw DocumentError("its aliases expand to too many values; write the values out") }
        guard depth <= Self.maximumDepth else { throw DocumentError("nested deeper than \(Self.maximumDepth) levels") }
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
            for item in seq { out.append(try JSONValue(yaml: item, budget: &budget, depth: depth + 1)) }
            self = .array(out)
        case .mapping(let map):
            var out: [String: JSONValue] = [:]
            for (k, v) in map {
                guard let key = k.string, case .scalar = k else { throw DocumentError("a mapping's key must be a string") }
                out[key] = try JSONValue(yaml: v, budget: &budget, depth: depth + 1)
            }
            self = .object(out)
        case .alias: throw DocumentError("aliases are not followed")
        }
    }

    /// A short text of the value, for messages: strings quoted, at most 100 characters.
    /// What kind of value this is, for a message that must not show it.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "true or false"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }

    public var shown: String {
        switch self {
        case .string(let s): "\"\(s.prefix(100))\""
        default: String(decoding: bytes.prefix(100), as: UTF8.self)
        }
    }
}

/// A document that could not be read (not JSON, not YAML, too deep, too large).
public struct DocumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

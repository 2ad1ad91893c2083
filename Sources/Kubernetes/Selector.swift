import Foundation
import HTTPTypes
import Hummingbird
import IMCCache
import IMCDocuments
import IMCModel
import IMCStore

/// `fieldSelector` and `labelSelector` of a list or watch: equality, inequality, existence and
/// set requirements on labels; equality on `metadata.name`, `metadata.namespace` and event fields.
struct Selector {
    var fields: [String: String] = [:]
    var notFields: [String: String] = [:]
    var labels: [(key: String, op: String, values: Set<String>)] = []

    init(_ call: KubernetesAPI.Call) throws { try self.init(query: call.query) }

    init(query: [String: String]) throws {
        for term in (query["fieldSelector"] ?? "").split(separator: ",") {
            if let r = term.range(of: "!=") {
                notFields[String(term[..<r.lowerBound])] = String(term[r.upperBound...])
            } else if let r = term.range(of: "==") ?? term.range(of: "=") {
                fields[String(term[..<r.lowerBound])] = String(term[r.upperBound...])
            } else {
                throw KubernetesStatus.badRequest("invalid field selector \(term.prefix(80)): expected field=value")
            }
        }
        let text = query["labelSelector"] ?? ""
        var terms: [String] = []
        var depth = 0
        var current = ""
        for ch in text {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == ",", depth == 0 {
                terms.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { terms.append(current) }
        for raw in terms {
            let term = raw.trimmingCharacters(in: .whitespaces)
            let words = term.split(separator: " ", maxSplits: 1).map(String.init)
            if words.count == 2, ["in", "notin"].contains(where: { words[1].hasPrefix($0 + " ") || words[1].hasPrefix($0 + "(") }) {
                let op = words[1].hasPrefix("notin") ? "notin" : "in"
                let list = words[1].drop { $0 != "(" }.dropFirst().prefix { $0 != ")" }
                labels.append((words[0], op, Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })))
            } else if let r = term.range(of: "!=") {
                labels.append((String(term[..<r.lowerBound]), "!=", [String(term[r.upperBound...])]))
            } else if let r = term.range(of: "==") ?? term.range(of: "=") {
                labels.append((String(term[..<r.lowerBound]), "=", [String(term[r.upperBound...])]))
            } else if term.hasPrefix("!") {
                labels.append((String(term.dropFirst()), "!", []))
            } else if !term.isEmpty {
                labels.append((term, "exists", []))
            }
        }
    }

    var isEmpty: Bool { fields.isEmpty && notFields.isEmpty && labels.isEmpty }

    func matches(_ object: JSON) -> Bool {
        func field(_ path: String) -> String? {
            var value: JSON? = object
            for part in path.split(separator: ".") { value = value?[String(part)] }
            if path == "metadata.namespace" { return value?.string ?? "" }
            return value?.string
        }
        for (path, wanted) in fields where field(path) != wanted {
            // A cluster-scoped object is in no namespace (its events are kept in `default`).
            let namespaced = path == "metadata.namespace" || path == "involvedObject.namespace"
            if namespaced, (field(path) ?? "").isEmpty, wanted.isEmpty || wanted == "default" { continue }
            return false
        }
        for (path, unwanted) in notFields where field(path) == unwanted { return false }
        let have = object["metadata"]?["labels"]?.stringMap ?? [:]
        for (key, op, values) in labels {
            let value = have[key]
            switch op {
            case "=": if value == nil || !values.contains(value!) { return false }
            case "!=": if let value, values.contains(value) { return false }
            case "in": if value == nil || !values.contains(value!) { return false }
            case "notin": if let value, values.contains(value) { return false }
            case "!": if value != nil { return false }
            default: if value == nil { return false }
            }
        }
        return true
    }
}

import Foundation

/// RFC 6902 JSON patches (`kubectl patch --type json`): add, remove, replace, move, copy, test.
enum JSONPatch {
    static func apply(_ operations: [JSON], to document: JSON) throws -> JSON {
        var doc = document
        for (i, op) in operations.enumerated() {
            guard let name = op["op"]?.string, let path = op["path"]?.string else {
                throw KubernetesStatus.badRequest("JSON patch operation \(i) needs op and path")
            }
            let pointer = try tokens(path, i)
            switch name {
            case "add": doc = try set(doc, pointer, try value(op, i), insert: true, i)
            case "replace":
                guard get(doc, pointer) != nil else {
                    throw KubernetesStatus.badRequest("JSON patch operation \(i): \(path) does not exist")
                }
                doc = try set(doc, pointer, try value(op, i), insert: false, i)
            case "remove":
                guard get(doc, pointer) != nil else {
                    throw KubernetesStatus.badRequest("JSON patch operation \(i): \(path) does not exist")
                }
                doc = try remove(doc, pointer, i)
            case "move", "copy":
                guard let from = op["from"]?.string, let moved = get(doc, try tokens(from, i)) else {
                    throw KubernetesStatus.badRequest("JSON patch operation \(i): from does not exist")
                }
                if name == "move" { doc = try remove(doc, try tokens(from, i), i) }
                doc = try set(doc, pointer, moved, insert: true, i)
            case "test":
                guard get(doc, pointer) == (try value(op, i)) else {
                    throw KubernetesStatus(code: 422, reason: "Invalid", message: "JSON patch test operation \(i) failed at \(path)")
                }
            default: throw KubernetesStatus.badRequest("JSON patch operation \(i): unknown op \(name.prefix(20))")
            }
        }
        return doc
    }

    static func value(_ op: JSON, _ i: Int) throws -> JSON {
        guard let v = op["value"] else { throw KubernetesStatus.badRequest("JSON patch operation \(i) needs a value") }
        return v
    }

    static func tokens(_ path: String, _ i: Int) throws -> [String] {
        guard path.isEmpty || path.hasPrefix("/") else {
            throw KubernetesStatus.badRequest("JSON patch operation \(i): \(path.prefix(80)) is not a pointer")
        }
        return path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    static func get(_ doc: JSON, _ pointer: [String]) -> JSON? {
        var node: JSON? = doc
        for token in pointer {
            switch node {
            case .object(let o): node = o[token]
            case .array(let a): node = Int(token).flatMap { a.indices.contains($0) ? a[$0] : nil }
            default: return nil
            }
        }
        return node
    }

    static func set(_ doc: JSON, _ pointer: [String], _ value: JSON, insert: Bool, _ i: Int) throws -> JSON {
        guard let head = pointer.first else { return value }
        let rest = Array(pointer.dropFirst())
        switch doc {
        case .object(var o):
            if rest.isEmpty {
                o[head] = value
            } else {
                guard let child = o[head] else {
                    throw KubernetesStatus.badRequest("JSON patch operation \(i): a parent of the path does not exist")
                }
                o[head] = try set(child, rest, value, insert: insert, i)
            }
            return .object(o)
        case .array(var a):
            if rest.isEmpty {
                if head == "-", insert {
                    a.append(value)
                    return .array(a)
                }
                guard let n = Int(head), n >= 0, insert ? n <= a.count : n < a.count else {
                    throw KubernetesStatus.badRequest("JSON patch operation \(i): index \(head.prefix(20)) is out of range")
                }
                if insert { a.insert(value, at: n) } else { a[n] = value }
            } else {
                guard let n = Int(head), a.indices.contains(n) else {
                    throw KubernetesStatus.badRequest("JSON patch operation \(i): index out of range")
                }
                a[n] = try set(a[n], rest, value, insert: insert, i)
            }
            return .array(a)
        default:
            throw KubernetesStatus.badRequest("JSON patch operation \(i): the path goes through a value that is not an object or a list")
        }
    }

    static func remove(_ doc: JSON, _ pointer: [String], _ i: Int) throws -> JSON {
        guard let head = pointer.first else { return .null }
        let rest = Array(pointer.dropFirst())
        switch doc {
        case .object(var o):
            if rest.isEmpty { o[head] = nil } else if let child = o[head] { o[head] = try remove(child, rest, i) }
            return .object(o)
        case .array(var a):
            guard let n = Int(head), a.indices.contains(n) else {
                throw KubernetesStatus.badRequest("JSON patch operation \(i): index out of range")
            }
            if rest.isEmpty { a.remove(at: n) } else { a[n] = try remove(a[n], rest, i) }
            return .array(a)
        default: return doc
        }
    }
}

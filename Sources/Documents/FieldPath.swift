/// Which field of a request an error is about, named as the Cloud API names it (the services'
/// vocabulary): `ImageCacheSize`, `Images[2]`, `Containers[1].Image`. Each door maps it to its own
/// form (the Cloud API's message, a Kubernetes `Status` cause's field, the console's input), so
/// that no door reads an error's message to find its field.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component]) { self.components = components }
    /// `"Containers[1].Image"`: keys between dots, indexes in brackets (the API's field names
    /// have neither).
    public init(stringLiteral text: String) {
        var components: [Component] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "[", omittingEmptySubsequences: false)
            components.append(.key(String(pieces[0])))
            for piece in pieces.dropFirst() {
                if piece.hasSuffix("]"), let i = Int(piece.dropLast()) {
                    components.append(.index(i))
                } else {
                    components.append(.key("[" + piece))
                }
            }
        }
        self.components = components
    }

    /// This path's `key` field.
    public func key(_ key: String) -> FieldPath { FieldPath(components + [.key(key)]) }
    /// This path's `index`-th element.
    public func index(_ index: Int) -> FieldPath { FieldPath(components + [.index(index)]) }
    /// `prefix` then this path.
    public func under(_ prefix: FieldPath) -> FieldPath { FieldPath(prefix.components + components) }

    /// The first key (the request's own field).
    public var root: String? {
        if case .key(let k)? = components.first { k } else { nil }
    }

    /// `Containers[1].Image`.
    public var description: String {
        var out = ""
        for c in components {
            switch c {
            case .key(let k): out += out.isEmpty ? k : ".\(k)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }
}

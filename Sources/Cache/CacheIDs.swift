/// Makes resource ids (`imc-xxxxxxxx`, `snap-xxxxxxxx`, `disk-xxxxxxxx`); injectable so that
/// tests are exact.
public protocol IDGenerator: Sendable {
    func next(prefix: String) -> String
}

/// Random ids: the prefix, a dash, 8 lower-case alphanumerics.
public struct RandomIDGenerator: IDGenerator {
    public init() {}
    public func next(prefix: String) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return prefix + "-" + String((0..<8).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    /// Whether `id` has the shape of an id with this prefix.
    public static func isValid(_ id: String, prefix: String) -> Bool {
        guard id.hasPrefix(prefix + "-") else { return false }
        let rest = id.dropFirst(prefix.count + 1)
        return rest.count == 8 && rest.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") }
    }
}

/// A content digest, `sha256:` followed by 64 lower-case hex digits. It is validated before it
/// is ever used to build a path or a URL, so `hex` is always safe as a file name.
public struct Digest: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The algorithm; only `sha256` is accepted.
    public let algorithm: String
    /// 64 lower-case hex digits.
    public let hex: String

    /// Parses and validates `sha256:<64 lower-case hex>`.
    public init(parsing string: String) throws(ModelError) {
        guard let colon = string.firstIndex(of: ":") else {
            throw ModelError(.invalidDigest, "invalid digest \"\(string.truncatedForMessage)\": expected sha256:<64 hex digits>")
        }
        let algorithm = String(string[..<colon])
        let hex = String(string[string.index(after: colon)...])
        guard algorithm == "sha256" else {
            throw ModelError(
                .invalidDigest,
                "unsupported digest algorithm \"\(algorithm.truncatedForMessage)\" in \"\(string.truncatedForMessage)\": only sha256 is supported"
            )
        }
        guard Digest.isHex64(hex) else {
            throw ModelError(
                .invalidDigest, "invalid digest \"\(string.truncatedForMessage)\": expected 64 lower-case hex digits after sha256:")
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    /// Makes a sha256 digest from raw hash bytes.
    public init(sha256 bytes: some Sequence<UInt8>) {
        self.algorithm = "sha256"
        self.hex = Hex.encode(bytes)
    }

    /// `sha256:<hex>`.
    public var description: String { "\(algorithm):\(hex)" }

    /// The first 12 hex digits, as `docker` shows layer ids.
    public var short: String { String(hex.prefix(12)) }

    static func isHex64(_ s: String) -> Bool {
        guard s.utf8.count == 64 else { return false }
        return s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    public static func < (a: Digest, b: Digest) -> Bool { a.description < b.description }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: s) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension String {
    /// The string cut to a length that fits in an error message, with control characters
    /// replaced, so that a hostile value cannot flood or forge a log line.
    package var truncatedForMessage: String {
        let cleaned = String(String.UnicodeScalarView(unicodeScalars.prefix(200).map { $0.value < 32 || $0.value == 127 ? "?" : $0 }))
        return unicodeScalars.count > 200 ? cleaned + "..." : cleaned
    }
}

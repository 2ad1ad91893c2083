/// An image platform, `os/architecture[/variant]`, normalised as containerd's `platforms`
/// package does (`x86_64` is `amd64`, `aarch64` is `arm64`, `arm64/v8` is `arm64`).
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    /// `linux`, `windows`, ...
    public var os: String
    /// `amd64`, `arm64`, ...
    public var architecture: String
    /// `v7`, `v8`, ... or nil.
    public var variant: String?

    enum CodingKeys: String, CodingKey {
        case os
        case architecture
        case variant
    }

    /// Makes a normalised platform.
    public init(os: String, architecture: String, variant: String? = nil) {
        let (arch, v) = Self.normalise(architecture: architecture.lowercased(), variant: variant?.lowercased())
        self.os = os.lowercased()
        self.architecture = arch
        self.variant = v
    }

    /// Parses `os/arch[/variant]`, or `arch` alone (then `linux`).
    public init(parsing s: String) throws(ModelError) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let valid = parts.allSatisfy {
            !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        }
        guard valid, (1...3).contains(parts.count) else {
            throw ModelError(
                .invalidPlatform,
                "invalid platform \"\(s.truncatedForMessage)\": expected os/architecture[/variant], for example linux/amd64")
        }
        if parts.count == 1 {
            self.init(os: "linux", architecture: parts[0])
        } else {
            self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
        }
    }

    /// The platform of the machine imc runs on.
    public static var host: Platform {
        #if arch(x86_64)
            return Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
            return Platform(os: "linux", architecture: "arm64")
        #else
            return Platform(os: "linux", architecture: "unknown")
        #endif
    }

    /// `linux/amd64`, `linux/arm/v7`.
    public var description: String {
        variant.map { "\(os)/\(architecture)/\($0)" } ?? "\(os)/\(architecture)"
    }

    /// Whether an index entry with platform `other` can run here.
    public func matches(_ other: Platform) -> Bool {
        os == other.os && architecture == other.architecture && (variant == other.variant || variant == nil)
    }

    static func normalise(architecture: String, variant: String?) -> (String, String?) {
        switch architecture {
        case "x86_64", "x86-64", "amd64": return ("amd64", variant == "v1" ? nil : variant)
        case "aarch64", "arm64": return ("arm64", variant == "v8" || variant == "8" ? nil : variant)
        case "armhf": return ("arm", "v7")
        case "armel": return ("arm", "v6")
        case "arm": return ("arm", variant ?? "v7")
        case "i386", "i686", "386": return ("386", variant)
        default: return (architecture, variant)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            os: try c.decode(String.self, forKey: .os), architecture: try c.decode(String.self, forKey: .architecture),
            variant: try c.decodeIfPresent(String.self, forKey: .variant))
    }
}

/// An image reference, parsed and normalised exactly as Docker does
/// (`github.com/distribution/reference` `ParseNormalizedNamed` followed by `TagNameOnly`):
/// `nginx` is `docker.io/library/nginx:latest`; `localhost:5000/a/b@sha256:...` keeps its
/// registry and digest; a reference may carry both a tag and a digest.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// The registry host, with its port when it has one: `docker.io`, `localhost:5000`.
    public let registry: String
    /// The repository path inside the registry: `library/nginx`.
    public let repository: String
    /// The tag, `latest` when the reference names neither a tag nor a digest.
    public let tag: String?
    /// The digest, when the reference pins one.
    public let digest: Digest?

    /// Docker Hub's canonical registry name.
    public static let dockerHub = "docker.io"
    /// The host that actually serves Docker Hub's registry API.
    public static let dockerHubEndpoint = "registry-1.docker.io"

    /// Parses a reference as `docker pull` would, normalising it.
    public init(parsing input: String) throws(ModelError) {
        func fail(_ why: String) -> ModelError {
            ModelError(.invalidReference, "invalid image reference \"\(input.truncatedForMessage)\": \(why)")
        }
        guard !input.isEmpty else { throw fail("it is empty") }
        guard input.utf8.count <= 4096 else { throw fail("it is longer than 4096 bytes") }
        guard input.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value != 127 }) else {
            throw fail("it contains white space, control or non-ASCII characters")
        }
        var rest = Substring(input)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            let d = String(rest[rest.index(after: at)...])
            do { digest = try Digest(parsing: d) } catch { throw fail("bad digest \"\(d.truncatedForMessage)\"") }
            rest = rest[..<at]
        }
        // A tag follows the last colon that comes after the last slash.
        var tag: String?
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let t = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(t) else { throw fail("bad tag \"\(t.truncatedForMessage)\"") }
            tag = t
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw fail("it has no repository name") }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var registry = Self.dockerHub
        if components.count > 1, Self.looksLikeDomain(components[0]) {
            registry = components.removeFirst()
            guard Self.isValidDomain(registry) else { throw fail("bad registry host \"\(registry.truncatedForMessage)\"") }
        }
        if registry == "index.docker.io" { registry = Self.dockerHub }
        for c in components {
            guard !c.isEmpty else { throw fail("it has an empty path component") }
            if c.contains(where: { $0.isUppercase }) { throw fail("repository name must be lowercase") }
            guard Self.isValidPathComponent(c) else { throw fail("bad path component \"\(c.truncatedForMessage)\"") }
        }
        if registry == Self.dockerHub && components.count == 1 { components.insert("library", at: 0) }
        let repository = components.joined(separator: "/")
        guard registry.utf8.count + 1 + repository.utf8.count <= 255 else {
            throw fail("repository name must not be longer than 255 characters")
        }
        if tag == nil && digest == nil { tag = "latest" }
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Builds a reference from its parts (already valid).
    public init(registry: String, repository: String, tag: String?, digest: Digest?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// `registry/repository`.
    public var name: String { "\(registry)/\(repository)" }

    /// The fully normalised form: `docker.io/library/nginx:latest`, `r/a@sha256:...`, `r/a:t@sha256:...`.
    public var description: String {
        var s = name
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// What to ask the registry's manifest endpoint for: the digest when pinned, else the tag.
    public var manifestReference: String { digest?.description ?? tag ?? "latest" }

    /// The host to talk to: Docker Hub's API host for `docker.io`, the registry otherwise.
    public var endpointHost: String { registry == Self.dockerHub ? Self.dockerHubEndpoint : registry }

    /// The same repository at another digest.
    public func pinned(to digest: Digest) -> ImageReference {
        ImageReference(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    static func looksLikeDomain(_ s: String) -> Bool {
        s.contains(".") || s.contains(":") || s == "localhost" || s.contains(where: { $0.isUppercase })
    }

    static func isValidDomain(_ s: String) -> Bool {
        var host = Substring(s)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inner = host[host.index(after: host.startIndex)..<close]
            guard !inner.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" }) else { return false }
            let after = host[host.index(after: close)...]
            if after.isEmpty { return true }
            guard after.hasPrefix(":") else { return false }
            port = after.dropFirst()
            host = ""
        } else if let colon = host.firstIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        if let port {
            guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        }
        if host.isEmpty { return port != nil && s.hasPrefix("[") }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.first != "-", label.last != "-",
                label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else { return false }
        }
        return true
    }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
    static func isValidPathComponent(_ s: String) -> Bool {
        let b = Array(s.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        var i = 0
        guard i < b.count, alnum(b[i]) else { return false }
        while i < b.count {
            if alnum(b[i]) {
                i += 1
                continue
            }
            // A separator: ".", "_", "__" or a run of "-"; it must be followed by alnum.
            if b[i] == UInt8(ascii: ".") {
                i += 1
            } else if b[i] == UInt8(ascii: "_") {
                i += 1
                if i < b.count && b[i] == UInt8(ascii: "_") { i += 1 }
            } else if b[i] == UInt8(ascii: "-") {
                while i < b.count && b[i] == UInt8(ascii: "-") { i += 1 }
            } else {
                return false
            }
            guard i < b.count, alnum(b[i]) else { return false }
        }
        return true
    }

    /// `[\w][\w.-]{0,127}`
    static func isValidTag(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard !b.isEmpty, b.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool {
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == UInt8(ascii: "_")
        }
        guard word(b[0]) else { return false }
        return b.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}

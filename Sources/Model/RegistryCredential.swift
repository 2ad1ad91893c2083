import Foundation

/// A user name and password for one registry. The password never appears in `description`,
/// `debugDescription` or a reflection dump, so that logging a credential cannot leak it.
public struct RegistryCredential: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The registry host this credential belongs to (`docker.io`, `localhost:5000`).
    public let server: String
    public let username: String
    /// The secret. Only the auth code reads it.
    public let password: String

    public init(server: String, username: String, password: String) {
        self.server = RegistryCredential.normaliseServer(server)
        self.username = username
        self.password = password
    }

    public var description: String { "RegistryCredential(server: \(server), username: \(username), password: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["server": server, "username": username]) }

    /// `https://index.docker.io/v1/` is `docker.io`; a scheme and path are dropped.
    public static func normaliseServer(_ s: String) -> String {
        var host = s.trimmingCharacters(in: .whitespaces)
        for scheme in ["https://", "http://"] where host.lowercased().hasPrefix(scheme) {
            host = String(host.dropFirst(scheme.count))
        }
        if let slash = host.firstIndex(of: "/") { host = String(host[..<slash]) }
        host = host.lowercased()
        if host == "index.docker.io" || host == "registry-1.docker.io" || host == "registry.hub.docker.com" {
            return ImageReference.dockerHub
        }
        return host
    }
}

/// Everything imc needs to know to talk to registries: credentials per host, and which hosts
/// are spoken to over plain HTTP (`RegistryHttpEndPointList`) or without TLS verification
/// (`RegistrySkipVerifyList`).
public struct RegistryConfig: Sendable, Equatable {
    public var credentials: [RegistryCredential]
    public var plainHTTPHosts: Set<String>
    public var skipVerifyHosts: Set<String>

    public init(credentials: [RegistryCredential] = [], plainHTTPHosts: Set<String> = [], skipVerifyHosts: Set<String> = []) {
        self.credentials = credentials
        self.plainHTTPHosts = Set(plainHTTPHosts.map(RegistryCredential.normaliseServer))
        self.skipVerifyHosts = Set(skipVerifyHosts.map(RegistryCredential.normaliseServer))
    }

    /// The credential for `host`, the last one given winning.
    public func credential(for host: String) -> RegistryCredential? {
        let h = RegistryCredential.normaliseServer(host)
        return credentials.last { $0.server == h }
    }

    /// Whether `host` (with its port) is spoken to over plain HTTP.
    public func isPlainHTTP(_ host: String) -> Bool { plainHTTPHosts.contains(RegistryCredential.normaliseServer(host)) }
    /// Whether `host`'s TLS certificate is not verified.
    public func skipsVerify(_ host: String) -> Bool { skipVerifyHosts.contains(RegistryCredential.normaliseServer(host)) }

    /// Adds another configuration's entries after this one's.
    public mutating func merge(_ other: RegistryConfig) {
        credentials += other.credentials
        plainHTTPHosts.formUnion(other.plainHTTPHosts)
        skipVerifyHosts.formUnion(other.skipVerifyHosts)
    }

    /// Parses any of the shapes a user has at hand, told apart by their keys:
    /// - a Docker `config.json` (`{"auths": {...}}`);
    /// - a Kubernetes `kubernetes.io/dockerconfigjson` Secret, as JSON (`{"kind": "Secret", "data": {".dockerconfigjson": base64}}`);
    /// - imc's own file, with the API's field names: `ImageRegistryCredentials` (`Server`,
    ///   `Username`, `Password`, `Name`), `RegistryHttpEndPointList`, `RegistrySkipVerifyList`;
    /// - a bare `ImageRegistryCredentials` list.
    public static func parse(_ data: Data, source: String) throws(ModelError) -> RegistryConfig {
        func fail(_ why: String) -> ModelError { ModelError(.invalidCredentials, "\(source.truncatedForMessage): \(why)") }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch { throw fail("not valid JSON") }
        if let list = json as? [Any] { return RegistryConfig(credentials: try parseImageRegistryCredentials(list, source: source)) }
        guard let object = json as? [String: Any] else { throw fail("expected a JSON object") }
        if object["auths"] != nil { return try parseDockerConfig(object, source: source) }
        if (object["kind"] as? String) == "Secret" {
            if let type = object["type"] as? String, type != "kubernetes.io/dockerconfigjson" {
                throw fail("Secret type is \"\(type.truncatedForMessage)\"; only kubernetes.io/dockerconfigjson is supported")
            }
            let dataField = object["data"] as? [String: Any]
            guard let encoded = dataField?[".dockerconfigjson"] as? String else { throw fail("Secret has no data.\".dockerconfigjson\"") }
            guard let decoded = Data(base64Encoded: encoded), let inner = try? JSONSerialization.jsonObject(with: decoded) as? [String: Any]
            else {
                throw fail("Secret data.\".dockerconfigjson\" is not base64 of a JSON object")
            }
            return try parseDockerConfig(inner, source: source)
        }
        var config = RegistryConfig()
        if let creds = object["ImageRegistryCredentials"] {
            guard let list = creds as? [Any] else { throw fail("ImageRegistryCredentials must be a list") }
            config.credentials = try parseImageRegistryCredentials(list, source: source)
        }
        for (key, keyPath) in [
            ("RegistryHttpEndPointList", \RegistryConfig.plainHTTPHosts), ("RegistrySkipVerifyList", \RegistryConfig.skipVerifyHosts),
        ] {
            guard let value = object[key] else { continue }
            guard let hosts = value as? [String] else { throw fail("\(key) must be a list of host names") }
            config[keyPath: keyPath] = Set(hosts.map(RegistryCredential.normaliseServer))
        }
        let known: Set<String> = ["ImageRegistryCredentials", "RegistryHttpEndPointList", "RegistrySkipVerifyList"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown field \"\(unknown.truncatedForMessage)\"")
        }
        return config
    }

    static func parseImageRegistryCredentials(_ list: [Any], source: String) throws(ModelError) -> [RegistryCredential] {
        var result: [RegistryCredential] = []
        for (i, item) in list.enumerated() {
            guard let o = item as? [String: Any] else {
                throw ModelError(.invalidCredentials, "\(source): ImageRegistryCredentials[\(i)] must be an object")
            }
            guard let server = o["Server"] as? String, !server.isEmpty else {
                throw ModelError(.invalidCredentials, "\(source): ImageRegistryCredentials[\(i)].Server is missing")
            }
            guard let user = o["Username"] as? String, let password = o["Password"] as? String else {
                throw ModelError(.invalidCredentials, "\(source): ImageRegistryCredentials[\(i)] needs Username and Password")
            }
            result.append(RegistryCredential(server: server, username: user, password: password))
        }
        return result
    }

    static func parseDockerConfig(_ object: [String: Any], source: String) throws(ModelError) -> RegistryConfig {
        guard let auths = object["auths"] as? [String: Any] else {
            throw ModelError(.invalidCredentials, "\(source): \"auths\" must be an object")
        }
        var creds: [RegistryCredential] = []
        for server in auths.keys.sorted() {
            guard let entry = auths[server] as? [String: Any] else { continue }
            if let auth = entry["auth"] as? String, !auth.isEmpty {
                guard let raw = Data(base64Encoded: auth), let text = String(data: raw, encoding: .utf8),
                    let colon = text.firstIndex(of: ":")
                else {
                    throw ModelError(
                        .invalidCredentials, "\(source): auths.\"\(server.truncatedForMessage)\".auth is not base64 of user:password")
                }
                creds.append(
                    RegistryCredential(
                        server: server, username: String(text[..<colon]), password: String(text[text.index(after: colon)...])))
            } else if let user = entry["username"] as? String, let password = entry["password"] as? String {
                creds.append(RegistryCredential(server: server, username: user, password: password))
            }
        }
        return RegistryConfig(credentials: creds)
    }
}

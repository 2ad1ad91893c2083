import Foundation
import IMCDocuments

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
        do {
            let json: JSONValue
            do { json = try JSONValue.parseJSON(data) } catch { throw fail("not valid JSON") }
            let decoder = StrictDecoder()
            switch json {
            case .array:
                return RegistryConfig(credentials: try decoder.decode([CredentialFile.Credential].self, from: json).map(\.credential))
            case .object(let object) where object["auths"] != nil || object["credsStore"] != nil || object["credHelpers"] != nil:
                return try decoder.decode(DockerConfigFile.self, from: json).config(source: source)
            case .object(let object) where object["kind"] == .string("Secret"):
                let secret = try decoder.decode(DockerConfigSecret.self, from: json)
                if let type = secret.type, type != "kubernetes.io/dockerconfigjson" {
                    throw fail("Secret type is \"\(type.truncatedForMessage)\"; only kubernetes.io/dockerconfigjson is supported")
                }
                guard let decoded = Data(base64Encoded: secret.data.dockerConfigJSON), let innerJSON = try? JSONValue.parseJSON(decoded),
                    case .object = innerJSON
                else {
                    throw fail("Secret data.\".dockerconfigjson\" is not base64 of a JSON object")
                }
                let inner: DockerConfigFile
                do { inner = try decoder.decode(DockerConfigFile.self, from: innerJSON) } catch {
                    throw fail("Secret data.\".dockerconfigjson\": \(error.message)")
                }
                return try inner.config(source: source)
            case .object:
                let file = try decoder.decode(CredentialFile.self, from: json)
                return RegistryConfig(
                    credentials: (file.ImageRegistryCredentials ?? []).map(\.credential),
                    plainHTTPHosts: Set(file.RegistryHttpEndPointList ?? []), skipVerifyHosts: Set(file.RegistrySkipVerifyList ?? []))
            default: throw fail("expected a JSON object")
            }
        } catch let problem as DecodingProblem {
            throw fail(problem.message)
        } catch let error as ModelError {
            throw error
        } catch {
            throw fail("\(error)")
        }
    }
}

/// imc's own credential file, with the Cloud API's field names; or a bare list of credentials.
struct CredentialFile: Decodable {
    var ImageRegistryCredentials: [Credential]?
    var RegistryHttpEndPointList: [String]?
    var RegistrySkipVerifyList: [String]?

    struct Credential: Decodable {
        var Server: String
        var Username: String
        var Password: String
        /// The credential's name in the console; not used to authenticate.
        var Name: String?

        enum CodingKeys: String, CodingKey { case Server, Username, Password, Name }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            Server = try c.decode(String.self, forKey: .Server)
            guard !Server.isEmpty else { throw decoder.problem(.missing, at: CodingKeys.Server) }
            Username = try c.decode(String.self, forKey: .Username)
            Password = try c.decode(String.self, forKey: .Password)
            Name = try c.decodeIfPresent(String.self, forKey: .Name)
        }

        var credential: RegistryCredential { RegistryCredential(server: Server, username: Username, password: Password) }
    }
}

/// Docker's `config.json`: `auths` by registry, each with `auth` (base64 of user:password) or
/// `username` and `password`. Credential helpers are refused by name: imc runs no helper.
struct DockerConfigFile: Decodable {
    var auths: [String: Entry]?
    var credsStore: String?
    var credHelpers: [String: String]?

    struct Entry: Decodable {
        var auth: String?
        var username: String?
        var password: String?
        /// Written by old `docker login`; not used to authenticate.
        var email: String?
    }

    func config(source: String) throws(ModelError) -> RegistryConfig {
        func fail(_ why: String) -> ModelError { ModelError(.invalidCredentials, "\(source.truncatedForMessage): \(why)") }
        if credsStore != nil || credHelpers != nil {
            throw fail(
                "\(credsStore != nil ? "credsStore" : "credHelpers") names a credential helper, which imc does not run; give the credential in auths"
            )
        }
        var creds: [RegistryCredential] = []
        for (server, entry) in (auths ?? [:]).sorted(by: { $0.key < $1.key }) {
            let at = "auths.\"\(server.truncatedForMessage)\""
            if let auth = entry.auth, !auth.isEmpty {
                guard let raw = Data(base64Encoded: auth), let text = String(data: raw, encoding: .utf8),
                    let colon = text.firstIndex(of: ":")
                else { throw fail("\(at).auth is not base64 of user:password") }
                creds.append(
                    RegistryCredential(
                        server: server, username: String(text[..<colon]), password: String(text[text.index(after: colon)...])))
            } else if let user = entry.username, let password = entry.password {
                creds.append(RegistryCredential(server: server, username: user, password: password))
            } else {
                throw fail("\(at) needs auth, or username and password")
            }
        }
        return RegistryConfig(credentials: creds)
    }
}

/// A Kubernetes `kubernetes.io/dockerconfigjson` Secret, as JSON.
struct DockerConfigSecret: Decodable {
    var apiVersion: String?
    var kind: String
    var type: String?
    /// The Secret's name and labels; not used.
    var metadata: JSONValue?
    var data: SecretData

    struct SecretData: Decodable {
        var dockerConfigJSON: String
        enum CodingKeys: String, CodingKey { case dockerConfigJSON = ".dockerconfigjson" }
    }
}

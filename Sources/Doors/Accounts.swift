import Foundation
import IMCOS
import IMCStore

/// An API key pair and the account (tenant) it belongs to.
public struct APIKey: Sendable, Equatable {
    public var account: String
    public var secretID: String
    public var secretKey: String
    public init(account: String, secretID: String, secretKey: String) {
        self.account = account
        self.secretID = secretID
        self.secretKey = secretKey
    }
}

/// The keys the server accepts, by SecretId.
public struct Accounts: Sendable {
    let keys: [String: APIKey]
    public init(_ keys: [APIKey]) { self.keys = Dictionary(keys.map { ($0.secretID, $0) }, uniquingKeysWith: { $1 }) }
    public func key(for secretID: String) -> APIKey? { keys[secretID] }

    /// The account of a key pair (the console's sign-in), compared in constant time.
    public func account(secretID: String, secretKey: String) -> String? {
        guard let key = keys[secretID] else { return nil }
        let a = Array(key.secretKey.utf8)
        let b = Array(secretKey.utf8)
        guard a.count == b.count else { return nil }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0 ? key.account : nil
    }

    /// The first account, like MinIO's root user: from `IMC_ROOT_SECRET_ID` / `IMC_ROOT_SECRET_KEY`
    /// when set, else generated once and kept in `dataRoot/root-credentials` (mode 0600); `created`
    /// says whether it was just generated (to print it once).
    /// With `secrets`, the key in the file is sealed (a file written in clear by an earlier
    /// version is sealed on the next start).
    public static func root(environment: [String: String], dataRoot: String, secrets: SecretBox? = nil) throws -> (APIKey, created: Bool) {
        if let id = environment["IMC_ROOT_SECRET_ID"], let key = environment["IMC_ROOT_SECRET_KEY"], !id.isEmpty, !key.isEmpty {
            return (APIKey(account: "100000000001", secretID: id, secretKey: key), false)
        }
        let path = dataRoot + "/root-credentials"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let lines = text.split(separator: "\n").map(String.init)
            if lines.count >= 2 {
                let key = APIKey(account: "100000000001", secretID: lines[0], secretKey: try secrets?.open(lines[1]) ?? lines[1])
                if let secrets, !SecretBox.isSealed(lines[1]) {
                    try AtomicFile.write("\(key.secretID)\n\(try secrets.seal(key.secretKey))\n", to: path, mode: 0o600)
                }
                return (key, false)
            }
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        func random(_ n: Int) -> String {
            var g = SystemRandomNumberGenerator()
            return String((0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &g)] })
        }
        let key = APIKey(account: "100000000001", secretID: "AKID" + random(32), secretKey: random(32))
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigurationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        let data = Array("\(key.secretID)\n\(try secrets?.seal(key.secretKey) ?? key.secretKey)\n".utf8)
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == data.count else { throw ConfigurationError("cannot write \(path)") }
        return (key, true)
    }
}

/// The service's configuration (its file, its accounts) cannot be used; the message says which
/// field or file and why.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The configuration file: not YAML, or a field with a value it does not take.
        case invalidField
        /// A file of the data root (the root key) cannot be read or written.
        case io
    }
    public let code: Code
    public let message: String
    public let cause: (any Error)?
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
    public init(_ message: String) { self.init(.invalidField, message) }
    public var description: String { message }
}

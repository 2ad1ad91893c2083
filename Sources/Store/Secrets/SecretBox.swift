import Crypto
import Foundation

/// Encrypts secrets at rest (registry passwords in the database, the root account's key on
/// disk) with AES-256-GCM. The key comes from `IMC_MASTER_KEY` (base64 of 32 bytes) or from a
/// file created on first start with mode 0600. A sealed value reads `enc:v1:<base64>` (nonce,
/// ciphertext and tag); a value without the prefix is a plaintext from before encryption and is
/// returned as it is (and sealed when next written).
public struct SecretBox: Sendable {
    /// The key's bytes (`SymmetricKey` itself is not Sendable).
    let bytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: bytes) }
    static let prefix = "enc:v1:"

    public init(key: SymmetricKey) { bytes = key.withUnsafeBytes { Array($0) } }

    /// The key from the environment, else from `path` (created when missing).
    public static func load(environment: [String: String], path: String) throws -> SecretBox {
        if let text = environment["IMC_MASTER_KEY"], !text.isEmpty {
            guard let data = Data(base64Encoded: text), data.count == 32 else {
                throw StoreError(.secret, "IMC_MASTER_KEY must be the base64 of 32 bytes (openssl rand -base64 32)")
            }
            return SecretBox(key: SymmetricKey(data: data))
        }
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else { throw StoreError(.secret, "\(path) must hold exactly 32 bytes, not \(data.count)") }
            return SecretBox(key: SymmetricKey(data: data))
        }
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Array($0) }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.secret, "cannot create \(path): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count else {
            unlink(path)
            throw StoreError(.secret, "cannot write \(path)")
        }
        return SecretBox(key: key)
    }

    /// Seals `plaintext`, whatever it looks like (a password that itself begins `enc:v1:` is
    /// sealed like any other); the empty string stays empty: there is no secret in it.
    public func seal(_ plaintext: String) throws -> String {
        guard !plaintext.isEmpty else { return plaintext }
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: key)
        guard let combined = box.combined else { throw StoreError(.secret, "cannot seal a secret") }
        return Self.prefix + combined.base64EncodedString()
    }

    /// Opens a sealed value; a plaintext from before encryption is returned as it is.
    public func open(_ value: String) throws -> String {
        guard value.hasPrefix(Self.prefix) else { return value }
        guard let data = Data(base64Encoded: String(value.dropFirst(Self.prefix.count))) else {
            throw StoreError(.secret, "a sealed secret is not valid base64")
        }
        do {
            let plain = try AES.GCM.open(try AES.GCM.SealedBox(combined: data), using: key)
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw StoreError(.secret, "a sealed secret cannot be opened with this key (IMC_MASTER_KEY or the key file changed?)")
        }
    }

    /// Whether `value` is sealed (or empty).
    public static func isSealed(_ value: String) -> Bool { value.isEmpty || value.hasPrefix(prefix) }
}

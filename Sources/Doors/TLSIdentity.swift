import Crypto
import Foundation
import IMCOS
import NIOSSL
import SwiftASN1
import X509

/// The API's TLS certificate: the operator's (`tls:` in the config), or one imc makes at first
/// start under the data root: a CA of its own (the file clients trust: `HttpProfile(certification=)`
/// in the Python SDK; appended to certifi's bundle for tccli) and a server certificate it signs for this
/// host's names and addresses. Both are kept; the fingerprint is printed at every start.
public struct TLSIdentity: Sendable {
    public let certificatePath: String
    public let keyPath: String
    /// The file a client trusts: the CA's certificate for a generated identity, the
    /// certificate itself for the operator's.
    public let trustPath: String
    /// SHA-256 of the trusted certificate's DER, as `AB:CD:...`.
    public let fingerprint: String
    public let generated: Bool

    /// The operator's certificate and key.
    public static func files(certificate: String, key: String) throws -> TLSIdentity {
        let pem = try String(contentsOfFile: certificate, encoding: .utf8)
        _ = try NIOSSLPrivateKey(file: key, format: .pem)
        return TLSIdentity(
            certificatePath: certificate, keyPath: key, trustPath: certificate, fingerprint: try fingerprint(ofPEM: pem), generated: false)
    }

    /// The identity under `directory`, made there if it is not yet (for `names`: host names and
    /// IP addresses the server is reached by).
    public static func generated(in directory: String, names: [String]) throws -> TLSIdentity {
        let (ca, caKey, cert, key) = (
            directory + "/ca.pem", directory + "/ca-key.pem", directory + "/server.pem", directory + "/server-key.pem"
        )
        let fm = FileManager.default
        if ![ca, caKey, cert, key].allSatisfy(fm.fileExists(atPath:)) {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            chmod(directory, 0o700)
            let now = Date()
            let authorityKey = P256.Signing.PrivateKey()
            let authorityName = try DistinguishedName {
                OrganizationName("imc")
                CommonName("imc local CA \(UUID().uuidString.prefix(8))")
            }
            let authority = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(authorityKey.publicKey), notValidBefore: now - 3600,
                notValidAfter: now + 10 * 365 * 86400, issuer: authorityName, subject: authorityName, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: Certificate.PublicKey(authorityKey.publicKey))
                }, issuerPrivateKey: .init(authorityKey))
            let serverKey = P256.Signing.PrivateKey()
            var alternatives: [GeneralName] = []
            for name in Set(names + ["localhost", "127.0.0.1", "::1"]).sorted() {
                if let ip = IPBytes(name) {
                    alternatives.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip))))
                } else {
                    alternatives.append(.dnsName(name))
                }
            }
            let server = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey), notValidBefore: now - 3600,
                notValidAfter: now + 825 * 86400, issuer: authorityName,
                subject: try DistinguishedName {
                    OrganizationName("imc")
                    CommonName("imc")
                }, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(alternatives)
                    AuthorityKeyIdentifier(keyIdentifier: try authority.extensions.subjectKeyIdentifier?.keyIdentifier)
                }, issuerPrivateKey: .init(authorityKey))
            try AtomicFile.write(authorityKey.pemRepresentation + "\n", to: caKey, mode: 0o600)
            try AtomicFile.write(serverKey.pemRepresentation + "\n", to: key, mode: 0o600)
            try AtomicFile.write(try server.serializeAsPEM().pemString + "\n", to: cert, mode: 0o644)
            try AtomicFile.write(try authority.serializeAsPEM().pemString + "\n", to: ca, mode: 0o644)
        }
        let trusted = try String(contentsOfFile: ca, encoding: .utf8)
        return TLSIdentity(
            certificatePath: cert, keyPath: key, trustPath: ca, fingerprint: try fingerprint(ofPEM: trusted), generated: true)
    }

    /// The server's TLS configuration (TLS 1.2 and later), its chain the certificate and, for a
    /// generated identity, the CA.
    public func configuration() throws -> TLSConfiguration {
        var chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        if generated { chain += try NIOSSLCertificate.fromPEMFile(trustPath).map { .certificate($0) } }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    static func fingerprint(ofPEM pem: String) throws -> String {
        let document = try PEMDocument(pemString: pem)
        return SHA256.hash(data: document.derBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// The 4 or 16 bytes of an IP address literal.
    static func IPBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}

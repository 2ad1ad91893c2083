import Foundation
import IMCAPI
import IMCDoors
import IMCModel

/// Checks a Cloud API request's TC3-HMAC-SHA256 signature: a known SecretId, a timestamp within
/// 300 s of the server's clock, a credential scope for that day and service, `content-type` and
/// `host` signed, and the right signature. An identical signed request sent again is accepted, as
/// the real service accepts it (TC3 has no nonce, and a script that sends the same request twice
/// in a second is a legitimate client): a captured signature is the threat, and TLS is the
/// answer (see docs/ARCHITECTURE.md, "Walls").
public final class RequestAuthenticator: Sendable {
    let accounts: Accounts
    let clock: any ServiceClock
    /// The services whose signatures are taken: TKE's (the instances and caches) and VPC's (the
    /// elastic IPs: `DescribeAddresses`, `ReleaseAddresses`).
    static let services: Set<String> = ["tke", "vpc"]
    public static let window: Int64 = 300

    public init(accounts: Accounts, clock: any ServiceClock = SystemClock()) {
        self.accounts = accounts
        self.clock = clock
    }

    /// The account of a correctly signed request, and the service it was signed for. `headers`
    /// are by lower-case name.
    public func authenticate(method: String, uri: String, query: String, headers: [String: String], body: [UInt8]) throws(APIError)
        -> (key: APIKey, service: String)
    {
        guard let header = headers["authorization"], let auth = TC3Signature.Authorization(header: header) else {
            throw .signatureFailure("the Authorization header is missing or is not TC3-HMAC-SHA256")
        }
        guard let key = accounts.key(for: auth.secretID) else {
            throw .secretIDNotFound("SecretId \(auth.secretID.prefix(64)) is not known")
        }
        guard let stamp = headers["x-tc-timestamp"], let timestamp = Int64(stamp) else {
            throw .missingParameter("X-TC-Timestamp is required (unix seconds)")
        }
        let current = Int64(clock.now().timeIntervalSince1970)
        guard abs(current - timestamp) <= Self.window else {
            throw .signatureExpire("X-TC-Timestamp \(timestamp) is more than \(Self.window) s from the server's time \(current)")
        }
        guard auth.date == TC3Signature.date(of: timestamp), Self.services.contains(auth.service) else {
            throw .signatureFailure(
                "the credential scope \(auth.date.prefix(20))/\(auth.service.prefix(20)) does not match the timestamp's day and a service of tke or vpc"
            )
        }
        guard auth.signedHeaders.contains("content-type"), auth.signedHeaders.contains("host") else {
            throw .signatureFailure("SignedHeaders must include content-type and host")
        }
        let payloadHash =
            headers["x-tc-content-sha256"] == "UNSIGNED-PAYLOAD"
            ? TC3Signature.sha256Hex(Array("UNSIGNED-PAYLOAD".utf8)) : TC3Signature.sha256Hex(body)
        let expected = TC3Signature.signature(
            method: method, uri: uri, query: query, headers: headers, signedHeaders: auth.signedHeaders, payloadHash: payloadHash,
            timestamp: timestamp, service: auth.service, secretKey: key.secretKey)
        guard TC3Signature.constantTimeEquals(expected, auth.signature) else {
            throw .signatureFailure("the request signature does not match; check the SecretKey and how the request was signed")
        }
        return (key, auth.service)
    }
}

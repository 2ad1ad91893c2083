import Crypto
import Foundation
import IMCModel

/// Tencent Cloud API 3.0 request signing, `TC3-HMAC-SHA256`, exactly as the official SDKs
/// compute it (API.md section 1). Pure: the server verifies with it, the CLI signs with it.
public enum TC3Signature {
    /// The parts of an `Authorization: TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header.
    public struct Authorization: Equatable, Sendable {
        public var secretID: String
        public var date: String
        public var service: String
        public var signedHeaders: [String]
        public var signature: String

        /// Parses the header; nil when it is not a TC3 authorization.
        public init?(header: String) {
            let prefix = "TC3-HMAC-SHA256 "
            guard header.hasPrefix(prefix) else { return nil }
            var fields: [String: String] = [:]
            for part in header.dropFirst(prefix.count).split(separator: ",") {
                let kv = part.trimmingCharacters(in: .whitespaces)
                guard let eq = kv.firstIndex(of: "=") else { return nil }
                fields[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
            }
            guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
                return nil
            }
            let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard scope.count == 4, scope[3] == "tc3_request" else { return nil }
            secretID = scope[0]
            date = scope[1]
            service = scope[2]
            signedHeaders = signed.split(separator: ";").map { String($0).lowercased() }
            self.signature = signature.lowercased()
        }

        public init(secretID: String, date: String, service: String, signedHeaders: [String], signature: String) {
            self.secretID = secretID
            self.date = date
            self.service = service
            self.signedHeaders = signedHeaders
            self.signature = signature
        }

        /// The header value.
        public var header: String {
            "TC3-HMAC-SHA256 Credential=\(secretID)/\(date)/\(service)/tc3_request, SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
        }
    }

    /// The headers of a signed call, as the official SDKs send them: `action` with `body` to `host`
    /// (`content-type` and `host` signed), by name in order.
    public static func headers(
        action: String, body: some DataProtocol, host: String, secretID: String, secretKey: String, region: String, timestamp: Int64,
        version: String = "2018-05-25", service: String = "tke"
    ) -> [(String, String)] {
        let contentType = "application/json"
        let signature = signature(
            method: "POST", uri: "/", query: "", headers: ["content-type": contentType, "host": host],
            signedHeaders: ["content-type", "host"],
            payloadHash: sha256Hex(body), timestamp: timestamp, service: service, secretKey: secretKey)
        let authorization = Authorization(
            secretID: secretID, date: date(of: timestamp), service: service, signedHeaders: ["content-type", "host"], signature: signature)
        return [
            ("Content-Type", contentType), ("Host", host), ("X-TC-Action", action), ("X-TC-Version", version),
            ("X-TC-Timestamp", String(timestamp)), ("X-TC-Region", region), ("Authorization", authorization.header),
        ]
    }

    /// `yyyy-MM-dd` in UTC of a unix timestamp.
    public static func date(of timestamp: Int64) -> String {
        let days = Int64((Double(timestamp) / 86400).rounded(.down))
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), no Foundation calendar.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return String(format: "%04lld-%02lld-%02lld", y, m, d)
    }

    /// The hex signature of a request.
    /// - Parameters:
    ///   - headers: the signed headers' values by lower-case name (`content-type`, `host`, ...).
    ///   - payloadHash: hex SHA-256 of the body, or of `UNSIGNED-PAYLOAD` when the client says so.
    public static func signature(
        method: String, uri: String, query: String, headers: [String: String], signedHeaders: [String], payloadHash: String,
        timestamp: Int64, service: String, secretKey: String
    ) -> String {
        let canonicalHeaders = signedHeaders.map { "\($0):\(headers[$0] ?? "")\n" }.joined()
        let canonicalRequest = "\(method)\n\(uri)\n\(query)\n\(canonicalHeaders)\n\(signedHeaders.joined(separator: ";"))\n\(payloadHash)"
        let day = date(of: timestamp)
        let scope = "\(day)/\(service)/tc3_request"
        let stringToSign = "TC3-HMAC-SHA256\n\(timestamp)\n\(scope)\n\(hex(SHA256.hash(data: Data(canonicalRequest.utf8))))"
        let kDate = hmac(Array(("TC3" + secretKey).utf8), day)
        let kService = hmac(kDate, service)
        let kSigning = hmac(kService, "tc3_request")
        return hex(hmac(kSigning, stringToSign))
    }

    /// Hex SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: some DataProtocol) -> String { hex(SHA256.hash(data: bytes)) }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: key)))
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        Hex.encode(bytes)
    }

    /// Compares two signatures in time independent of where they differ.
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

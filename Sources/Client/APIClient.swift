import AsyncHTTPClient
import Foundation
import IMCAPI
import NIOCore
import NIOFoundationCompat

/// A client of imc's Cloud API (or Tencent Cloud's), signing every request with TC3-HMAC-SHA256
/// as the official SDKs do. Credentials and endpoint come from flags or the SDKs' environment
/// variables (`TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY`, `TENCENTCLOUD_REGION`) and
/// `IMC_ENDPOINT`.
public final class APIClient: Sendable {
    public struct Settings: Sendable {
        public var endpoint: String
        public var secretID: String
        public var secretKey: String
        public var region: String
        public var useTLS: Bool

        public init(endpoint: String, secretID: String, secretKey: String, region: String, useTLS: Bool = false) {
            self.endpoint = endpoint
            self.secretID = secretID
            self.secretKey = secretKey
            self.region = region
            self.useTLS = useTLS
        }
    }

    let settings: Settings
    let http: HTTPClient

    public init(_ settings: Settings) {
        self.settings = settings
        http = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    public func shutdown() async throws { try await http.shutdown() }

    /// Calls `action` with `parameters`; returns the `Response` object's fields, or throws the
    /// `APIError` the service answered.
    public func call(_ action: String, _ parameters: [String: Any]) async throws -> [String: Any] {
        let body = try JSONSerialization.data(withJSONObject: parameters, options: [.sortedKeys])
        let timestamp = Int64(Date().timeIntervalSince1970)
        let contentType = "application/json"
        let signature = TC3Signature.signature(
            method: "POST", uri: "/", query: "", headers: ["content-type": contentType, "host": settings.endpoint],
            signedHeaders: ["content-type", "host"], payloadHash: TC3Signature.sha256Hex(body), timestamp: timestamp, service: "tke",
            secretKey: settings.secretKey)
        let authorization = TC3Signature.Authorization(
            secretID: settings.secretID, date: TC3Signature.date(of: timestamp), service: "tke", signedHeaders: ["content-type", "host"],
            signature: signature)
        var request = HTTPClientRequest(url: (settings.useTLS ? "https://" : "http://") + settings.endpoint + "/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "Host", value: settings.endpoint)
        request.headers.add(name: "X-TC-Action", value: action)
        request.headers.add(name: "X-TC-Version", value: "2018-05-25")
        request.headers.add(name: "X-TC-Timestamp", value: String(timestamp))
        request.headers.add(name: "X-TC-Region", value: settings.region)
        request.headers.add(name: "Authorization", value: authorization.header)
        request.body = .bytes(ByteBuffer(data: body))
        let response = try await http.execute(request, timeout: .seconds(60))
        let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], let fields = object["Response"] as? [String: Any]
        else {
            throw APIError.internalError(
                "the service at \(settings.endpoint) answered \(response.status.code) without a Cloud API response")
        }
        if let error = fields["Error"] as? [String: Any] {
            throw APIError(error["Code"] as? String ?? "InternalError", error["Message"] as? String ?? "")
        }
        return fields
    }
}

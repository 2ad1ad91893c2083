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

    /// Sends `request`; returns its typed response, or throws the `APIError` the service answered.
    public func send<R: CloudAPIRequest>(_ request: R) async throws -> R.Response {
        let data = try await post(R.action.rawValue, body: try Envelope.encoder().encode(request))
        do { return try Envelope.decode(R.Response.self, from: data) } catch let e as APIError { throw e } catch {
            throw APIError.internalError(
                "the service at \(settings.endpoint) answered \(R.action.rawValue) with a response imc cannot read: \(error)")
        }
    }

    /// GETs `path` of the service, unsigned (public documents); the answer's bytes.
    public func get(_ path: String) async throws -> Data {
        let request = HTTPClientRequest(url: (settings.useTLS ? "https://" : "http://") + settings.endpoint + path)
        let response = try await http.execute(request, timeout: .seconds(30))
        let data = Data(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else {
            throw APIError.internalError("the service at \(settings.endpoint) answered GET \(path) with \(response.status.code)")
        }
        return data
    }

    /// A call signed now, to be sent as it is, any number of times within the signature's five
    /// minutes (the service accepts identical signed requests, as the real one does): what a load
    /// generator replays so that its own signing and decoding do not weigh on what it measures.
    public struct SignedCall: Sendable {
        let action: String
        let headers: [(String, String)]
        let body: Data
    }

    public func sign<R: CloudAPIRequest>(_ request: R) throws -> SignedCall {
        let body = try Envelope.encoder().encode(request)
        return SignedCall(
            action: R.action.rawValue,
            headers: TC3Signature.headers(
                action: R.action.rawValue, body: body, host: settings.endpoint, secretID: settings.secretID,
                secretKey: settings.secretKey, region: settings.region, timestamp: Int64(Date().timeIntervalSince1970)),
            body: body)
    }

    /// Sends a signed call; the answer's bytes, unread.
    public func send(_ call: SignedCall) async throws -> Data { try await post(call) }

    /// Posts a signed call of `action` with a JSON `body`; returns the answer's bytes.
    public func post(_ action: String, body: Data) async throws -> Data {
        try await post(
            SignedCall(
                action: action,
                headers: TC3Signature.headers(
                    action: action, body: body, host: settings.endpoint, secretID: settings.secretID, secretKey: settings.secretKey,
                    region: settings.region, timestamp: Int64(Date().timeIntervalSince1970)), body: body))
    }

    private func post(_ call: SignedCall) async throws -> Data {
        let action = call.action
        var request = HTTPClientRequest(url: (settings.useTLS ? "https://" : "http://") + settings.endpoint + "/")
        request.method = .POST
        for (name, value) in call.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(data: call.body))
        let response = try await http.execute(request, timeout: .seconds(60))
        let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
        guard response.status == .ok else {
            throw APIError.internalError(
                "the service at \(settings.endpoint) answered \(response.status.code) without a Cloud API response")
        }
        return data
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import IMCAPI
import IMCObservability
import IMCService
import Logging

/// The Cloud API 3.0 door (API.md section 1): `POST /` with a signed JSON body, the action in
/// `X-TC-Action`; answers `{"Response": {...}}`, errors included (HTTP 200, as the real service).
public struct CloudAPI: Sendable {
    public static let version = "2018-05-25"
    let authenticator: RequestAuthenticator
    let actions: ImageCacheActions
    let instanceActions: InstanceActions?
    let billingActions: BillingActions?
    let regions: Set<String>
    let logger: Logger
    let now: @Sendable () -> Date

    public init(
        accounts: Accounts, service: CacheService, instances: InstanceService? = nil, billing: BillingService? = nil, regions: Set<String>,
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        authenticator = RequestAuthenticator(accounts: accounts, now: now)
        actions = ImageCacheActions(service: service)
        instanceActions = instances.map { InstanceActions(service: $0) }
        billingActions = billing.map { BillingActions(service: $0) }
        self.regions = regions
        self.logger = logger
        self.now = now
    }

    /// Handles one request: headers by lower-case name, the raw body.
    public func handle(method: String, path: String, query: String, headers: [String: String], body: [UInt8]) -> [String: Any] {
        let requestID = UUID().uuidString.lowercased()
        let action = headers["x-tc-action"] ?? ""
        do {
            guard !action.isEmpty else { throw APIError.missingParameter("X-TC-Action is required") }
            let key = try authenticator.authenticate(method: method, uri: path, query: query, headers: headers, body: body)
            guard headers["x-tc-version"] == Self.version else {
                throw APIError.invalidParameterValue(
                    "X-TC-Version \"\((headers["x-tc-version"] ?? "").prefix(40))\" is not supported; use \(Self.version)")
            }
            let forInstances = instanceActions != nil && InstanceActions.names.contains(action)
            let forBilling = billingActions != nil && BillingActions.names.contains(action)
            guard ImageCacheActions.names.contains(action) || forInstances || forBilling else {
                throw APIError.invalidAction("action \(action.prefix(80)) is not supported by this service")
            }
            if ImageCacheActions.changing.contains(action) || InstanceActions.changing.contains(action) {
                try authenticator.refuseReplay(authorization: headers["authorization"], now: now())
            }
            let region = headers["x-tc-region"] ?? ""
            guard regions.contains(region) else {
                throw APIError.invalidParameterValue(
                    "X-TC-Region \"\(region.prefix(40))\" is not served here; regions: \(regions.sorted().joined(separator: ", "))")
            }
            var parameters = try Parameters(body: body)
            var fields =
                if forInstances, let instanceActions {
                    try instanceActions.handle(action, &parameters, account: key.account, region: region)
                } else if forBilling, let billingActions {
                    try billingActions.handle(action, &parameters, account: key.account)
                } else {
                    try actions.handle(action, &parameters, account: key.account, region: region)
                }
            fields["RequestId"] = requestID
            Self.count(action, code: "ok")
            logger.info("api", metadata: ["action": "\(action)", "request": "\(requestID)", "code": "ok"])
            return ["Response": fields]
        } catch {
            let e = APIError.from(error)
            Self.count(action, code: e.code)
            if e.code == "InternalError" {
                logger.error(
                    "api failed",
                    metadata: [
                        "action": "\(action.prefix(80))", "request": "\(requestID)", "error": "\(String(describing: error).prefix(300))",
                    ])
            } else {
                logger.info("api", metadata: ["action": "\(action.prefix(80))", "request": "\(requestID)", "code": "\(e.code)"])
            }
            return ["Response": ["Error": ["Code": e.code, "Message": e.message], "RequestId": requestID]]
        }
    }

    static let codes: Set<String> = [
        "AuthFailure.SignatureFailure", "AuthFailure.SignatureExpire", "AuthFailure.SecretIdNotFound", "AuthFailure.UnauthorizedOperation",
        "InvalidAction", "InvalidParameter", "InvalidParameterValue", "MissingParameter", "UnknownParameter", "ResourceNotFound",
        "ResourceInUse", "UnsupportedOperation", "LimitExceeded", "RequestLimitExceeded", "InternalError", "ok",
    ]

    /// Counts a request by action and code, both from closed sets (anything else is `other`).
    static func count(_ action: String, code: String) {
        Metrics.shared.increment(
            "imc_api_requests_total",
            labels: [
                "action": Metrics.bounded(action, ImageCacheActions.names.union(InstanceActions.names).union(extraActions)),
                "code": Metrics.bounded(code, codes),
            ])
    }

    /// Actions of later doors counted by name (the bill).
    static let extraActions: Set<String> = BillingActions.names

    /// The Hummingbird responder for this API.
    public func responder() -> some HTTPResponder<BasicRequestContext> {
        let api = self
        return CallbackResponder<BasicRequestContext> { request, _ in try await api.respond(to: request) }
    }

    /// Handles one HTTP request as an API call.
    public func respond(to request: Request) async throws -> Response {
        let body: [UInt8]
        do { body = Array(buffer: try await request.body.collect(upTo: 1 << 20)) } catch {
            return Self.json([
                "Response": [
                    "Error": ["Code": "InvalidParameter", "Message": "the request body is larger than 1 MiB"],
                    "RequestId": UUID().uuidString.lowercased(),
                ]
            ])
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        headers["host"] = request.head.authority ?? headers["host"]
        let result = handle(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: body)
        return Self.json(result)
    }

    static func json(_ object: [String: Any]) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import IMCAPI
import IMCBillingService
import IMCCaches
import IMCDoors
import IMCInstances
import IMCModel
import IMCObservability
import Logging

/// The Cloud API 3.0 door (API.md section 1): `POST /` with a signed JSON body, the action in
/// `X-TC-Action`; answers `{"Response": {...}}`, errors included (HTTP 200, as the real service).
public struct CloudAPI: Sendable {
    public static let version = "2018-05-25"
    let authenticator: RequestAuthenticator
    let caches: ImageCacheActions
    let instances: InstanceActions?
    let billing: BillingActions?
    let regions: Set<String>
    let clock: any ServiceClock

    public init(
        accounts: Accounts, service: CacheService, instances: InstanceService? = nil, billing: BillingService? = nil, regions: Set<String>,
        clock: any ServiceClock = SystemClock()
    ) {
        authenticator = RequestAuthenticator(accounts: accounts, clock: clock)
        caches = ImageCacheActions(service: service)
        self.instances = instances.map { InstanceActions(service: $0) }
        self.billing = billing.map { BillingActions(service: $0) }
        self.regions = regions
        self.clock = clock
    }

    /// Adds `POST /` to `router`.
    public func addRoutes(to router: Router<DoorContext>) {
        let api = self
        router.post("/") { request, context in try await api.respond(to: request, context: context) }
    }

    /// Every code this door answers with, for the bounded metric label.
    static let codes: Set<String> = [
        "AuthFailure.SignatureFailure", "AuthFailure.SignatureExpire", "AuthFailure.SecretIdNotFound", "AuthFailure.UnauthorizedOperation",
        "InvalidAction", "InvalidParameter", "InvalidParameterValue", "MissingParameter", "UnknownParameter", "ResourceNotFound",
        "ResourceInUse", "UnsupportedOperation", "LimitExceeded", "RequestLimitExceeded", "InternalError", "ok",
    ]

    /// Handles one HTTP request as an API call.
    public func respond(to request: Request, context: DoorContext) async throws -> Response {
        let body: [UInt8]
        do { body = Array(buffer: try await request.body.collect(upTo: context.maxUploadSize)) } catch {
            return Self.json(
                Envelope.failure(.invalidParameter("the request body is larger than 1 MiB"), requestID: context.requestID))
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        headers["host"] = request.head.authority ?? headers["host"]
        let data = await handle(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: body,
            requestID: context.requestID, logger: context.logger)
        return Self.json(data)
    }

    /// Handles one call: headers by lower-case name, the raw body; returns the envelope.
    public func handle(
        method: String, path: String, query: String, headers: [String: String], body: [UInt8], requestID: String, logger: Logger
    ) async -> Data {
        let name = headers["x-tc-action"] ?? ""
        do {
            guard !name.isEmpty else { throw APIError.missingParameter("X-TC-Action is required") }
            let (key, service) = try authenticator.authenticate(method: method, uri: path, query: query, headers: headers, body: body)
            guard let action = CloudAction(rawValue: name), action.service == service, served(action) else {
                throw APIError.invalidAction("action \(name.prefix(80)) is not supported by this service (\(service))")
            }
            guard headers["x-tc-version"] == action.version else {
                throw APIError.invalidParameterValue(
                    "X-TC-Version \"\((headers["x-tc-version"] ?? "").prefix(40))\" is not supported; use \(action.version)")
            }
            let region = headers["x-tc-region"] ?? ""
            guard regions.contains(region) else {
                throw APIError.invalidParameterValue(
                    "X-TC-Region \"\(region.prefix(40))\" is not served here; regions: \(regions.sorted().joined(separator: ", "))")
            }
            let data = try await dispatch(action, body, account: key.account, region: region, requestID: requestID)
            IMCMetrics.apiRequest(action: name, code: "ok", actions: CloudAction.allCases.map(\.rawValue), codes: Self.codes)
            logger.info("api", metadata: ["action": "\(name)", "code": "ok"])
            return data
        } catch {
            let e = APIError.from(error)
            IMCMetrics.apiRequest(action: name, code: e.code, actions: CloudAction.allCases.map(\.rawValue), codes: Self.codes)
            if e.code == "InternalError" {
                logger.error("api failed", metadata: ["action": "\(name.prefix(80))", "error": "\(String(describing: error).prefix(300))"])
            } else {
                logger.info("api", metadata: ["action": "\(name.prefix(80))", "code": "\(e.code)"])
            }
            return Envelope.failure(e, requestID: requestID)
        }
    }

    /// Whether this door serves `action` (instances and the bill are served when their services are).
    func served(_ action: CloudAction) -> Bool {
        switch action {
        case .createImageCache, .describeImageCaches, .updateImageCache, .deleteImageCaches, .getMostSuitableImageCache: true
        case .describeImageCacheBill: billing != nil
        case .describeEKSContainerInstanceRegions: true  // the configuration's regions, whatever runs here
        default: instances != nil
        }
    }

    func dispatch(_ action: CloudAction, _ bytes: [UInt8], account: String, region: String, requestID: String) async throws -> Data {
        func call<R: CloudAPIRequest>(_ type: R.Type, _ body: (R) async throws -> R.Response) async throws -> Data {
            try Envelope.success(try await body(try R.decode(body: bytes)), requestID: requestID)
        }
        switch action {
        case .createImageCache:
            return try await call(CreateImageCacheRequest.self) { try await caches.create($0, account: account, region: region) }
        case .updateImageCache: return try await call(UpdateImageCacheRequest.self) { try await caches.update($0, account: account) }
        case .deleteImageCaches: return try await call(DeleteImageCachesRequest.self) { try await caches.delete($0, account: account) }
        case .describeImageCaches:
            return try await call(DescribeImageCachesRequest.self) { try await caches.describe($0, account: account) }
        case .getMostSuitableImageCache:
            return try await call(GetMostSuitableImageCacheRequest.self) {
                try await caches.mostSuitable($0, account: account, region: region)
            }
        case .describeImageCacheBill:
            return try await call(DescribeImageCacheBillRequest.self) { try await billing!.bill($0, account: account) }
        case .createEKSContainerInstances:
            return try await call(CreateEKSContainerInstancesRequest.self) {
                try await instances!.create($0, account: account, region: region)
            }
        case .describeEKSContainerInstances:
            return try await call(DescribeEKSContainerInstancesRequest.self) { try await instances!.describe($0, account: account) }
        case .describeEKSContainerInstanceEvent:
            return try await call(DescribeEKSContainerInstanceEventRequest.self) { try await instances!.events($0, account: account) }
        case .describeEksContainerInstanceLog:
            return try await call(DescribeEksContainerInstanceLogRequest.self) { try await instances!.logs($0, account: account) }
        case .deleteEKSContainerInstances:
            return try await call(DeleteEKSContainerInstancesRequest.self) { try await instances!.delete($0, account: account) }
        case .restartEKSContainerInstances:
            return try await call(RestartEKSContainerInstancesRequest.self) { try await instances!.restart($0, account: account) }
        case .updateEKSContainerInstance:
            return try await call(UpdateEKSContainerInstanceRequest.self) { try await instances!.update($0, account: account) }
        case .describeAddresses:
            return try await call(DescribeAddressesRequest.self) { try await instances!.addresses($0, account: account) }
        case .releaseAddresses:
            return try await call(ReleaseAddressesRequest.self) { try await instances!.release($0, account: account) }
        case .describeEKSContainerInstanceRegions:
            // The regions this service serves (its configuration's), which are where an
            // account's instances can run.
            return try await call(DescribeEKSContainerInstanceRegionsRequest.self) { _ in
                DescribeEKSContainerInstanceRegionsResponse(Regions: regions.sorted().map { EksCiRegionInfo(RegionName: $0) })
            }
        }
    }

    static func json(_ data: Data) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

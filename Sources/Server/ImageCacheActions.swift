import Foundation
import IMCAPI
import IMCCache
import IMCService
import IMCStore

/// The image cache actions of API.md section 2: each reads its parameters strictly, calls the
/// service and renders the response fields.
struct ImageCacheActions: Sendable {
    let service: CacheService

    static let names: Set<String> = [
        "CreateImageCache", "DescribeImageCaches", "UpdateImageCache", "DeleteImageCaches", "GetMostSuitableImageCache",
    ]
    /// Actions that change state, whose exact replays are refused.
    static let changing: Set<String> = ["CreateImageCache", "UpdateImageCache", "DeleteImageCaches"]

    func handle(_ action: String, _ p: inout Parameters, account: String, region: String) throws -> [String: Any] {
        switch action {
        case "CreateImageCache":
            var request = try Self.cacheRequest(&p, creating: true)
            request.images = try p.strings("Images")
            guard request.images != nil else { throw APIError.missingParameter("Images is required") }
            try p.finish()
            let cache = try service.create(request, account: account, region: region)
            return ["ImageCacheId": cache.id]
        case "UpdateImageCache":
            let id = try p.requiredString("ImageCacheId")
            var request = try Self.cacheRequest(&p, creating: false)
            request.images = try p.strings("Images")
            try p.finish()
            _ = try service.update(id: id, request, account: account)
            return [:]
        case "DeleteImageCaches":
            let ids = try p.strings("ImageCacheIds") ?? []
            try p.finish()
            try service.delete(ids: ids, account: account)
            return [:]
        case "DescribeImageCaches":
            var query = CacheQuery()
            query.ids = try p.strings("ImageCacheIds")
            query.names = try p.strings("ImageCacheNames")
            query.limit = try p.int("Limit") ?? 20
            query.offset = try p.int("Offset") ?? 0
            let filters = try p.filters()
            try p.finish()
            for (name, values) in filters ?? [] {
                switch name {
                case "image-cache-name": query.names = (query.names ?? []) + values
                case "image-cache-id": query.ids = (query.ids ?? []) + values
                case "status":
                    query.statuses = try values.map { v throws(APIError) in try Parameters.oneOf(v, field: "Filters status value") }
                default:
                    throw APIError.invalidParameterValue(
                        "Filters Name \"\(name.prefix(60))\" is not supported; use image-cache-name, image-cache-id or status")
                }
            }
            let (total, caches) = try service.describe(account: account, query: query)
            return ["TotalCount": total, "ImageCaches": caches.map(Self.render)]
        case "GetMostSuitableImageCache":
            let images = try p.strings("Images")
            _ = try p.string("Snapshotter")
            try p.finish()
            guard let images else { throw APIError.missingParameter("Images is required") }
            let found = try service.match(images: images, account: account, region: region)
            return ["Found": found != nil, "ImageCache": found.map(Self.render) ?? NSNull()]
        default:
            throw APIError.invalidAction("action \(action.prefix(80)) is not supported by this service")
        }
    }

    static func cacheRequest(_ p: inout Parameters, creating: Bool) throws -> CacheRequest {
        var r = CacheRequest()
        r.name = try p.string("ImageCacheName")
        r.size = try p.int("ImageCacheSize")
        r.retentionDays = try p.int("RetentionDays")
        r.securityGroupIDs = try p.strings("SecurityGroupIds")
        r.credentials = try p.objects("ImageRegistryCredentials") {
            (c: inout Parameters, path: String) throws(APIError) -> CacheCredential in
            guard let server = try c.string("Server"), !server.isEmpty else {
                throw APIError.missingParameter("\(path).Server is required")
            }
            let username = try c.string("Username") ?? ""
            let password = try c.string("Password") ?? ""
            return CacheCredential(server: server, username: username, password: password, name: try c.string("Name"))
        }
        r.tags = try p.objects("Tags") { (t: inout Parameters, path: String) throws(APIError) -> CacheTag in
            CacheTag(key: try t.requiredString("Key"), value: try t.string("Value") ?? "")
        }
        if creating {
            r.subnetID = try p.string("SubnetId")
            r.vpcID = try p.string("VpcId")
            r.existedEipID = try p.string("ExistedEipId")
            r.autoCreateEip = try p.bool("AutoCreateEip")
            r.autoCreateEipAttribute = try p.rawObject("AutoCreateEipAttribute")
            r.registrySkipVerifyList = try p.strings("RegistrySkipVerifyList")
            r.registryHttpEndPointList = try p.strings("RegistryHttpEndPointList")
            r.resolveConfig = try p.string("ResolveConfig")
        }
        return r
    }

    /// ISO-8601 in UTC, as the real service returns times.
    static func time(_ d: Date?) -> Any { d.map { $0.formatted(.iso8601) } ?? NSNull() }

    /// The API's `ImageCache` object. Passwords are never part of it.
    static func render(_ c: ImageCache) -> [String: Any] {
        [
            "ImageCacheId": c.id, "ImageCacheName": c.name, "ImageCacheSize": c.size, "Images": c.images,
            "CreationTime": time(c.creationTime), "ExpireDateTime": time(c.expireDateTime), "LastMatchedTime": time(c.lastMatchedTime),
            "SnapshotId": c.snapshotID ?? NSNull(), "Status": c.status.rawValue, "RetentionDays": c.retentionDays,
            "Events": c.events.map { e in
                [
                    "ImageCacheId": c.id, "Type": e.type.rawValue, "Reason": e.reason,
                    "Message": e.count > 1 ? "\(e.message) (x\(e.count))" : e.message,
                    "FirstTimestamp": time(e.firstTimestamp), "LastTimestamp": time(e.lastTimestamp),
                ] as [String: Any]
            },
            "ImageRegistryCredentials": c.credentials.map {
                ["Server": $0.server, "Username": $0.username, "Name": $0.name ?? NSNull()] as [String: Any]
            },
            "Tags": c.tags.map { ["Key": $0.key, "Value": $0.value] },
            "ImageCacheType": "imc", "Snapshotter": "overlayfs",
        ]
    }
}

extension APIError {
    /// Every error below the door becomes an API error here, and only here.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as ServiceError:
            switch e.code {
            case .invalidValue: return .invalidParameterValue(e.message)
            case .missing: return .missingParameter(e.message)
            case .notFound: return .resourceNotFound(e.message)
            case .limitExceeded: return .limitExceeded(e.message)
            case .inUse: return .resourceInUse(e.message)
            case .failed, .diskTooSmall: return .internalError("the service failed to handle the request; it was logged")
            }
        default: return .internalError("the service failed to handle the request; it was logged")
        }
    }
}

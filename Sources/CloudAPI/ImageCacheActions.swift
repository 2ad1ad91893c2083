import Foundation
import IMCAPI
import IMCCache
import IMCCaches
import IMCDocuments
import IMCServiceSupport
import IMCStore

/// The image cache actions of API.md section 2: each turns its typed request into the service's,
/// calls it, and renders the answer.
struct ImageCacheActions: Sendable {
    let service: CacheService

    /// The build's resolv.conf (`ResolveConfig`): imc's builds resolve registries with the
    /// node's resolvers, so it is refused by name rather than kept and not acted on. (The build's
    /// VPC, subnet, security groups and EIP are kept and shown, not acted on: tccli requires the
    /// subnet and VPC and the seed's YAML names an EIP, so refusing them would refuse those users;
    /// docs/ARCHITECTURE.md says what running the build on the VPC would take.)
    static func refuseBuildResolvers(_ resolveConfig: String?) throws(APIError) {
        guard let text = resolveConfig, !text.isEmpty else { return }
        throw APIError(
            "UnsupportedOperation",
            "ResolveConfig is not supported: imc's builds resolve registries with the node's resolvers; leave it out",
            field: "ResolveConfig")
    }

    func create(_ r: CreateImageCacheRequest, account: String, region: String) async throws -> CreateImageCacheResponse {
        try Self.refuseBuildResolvers(r.ResolveConfig)
        var request = Self.cacheRequest(
            name: r.ImageCacheName, size: r.ImageCacheSize, retentionDays: r.RetentionDays, credentials: r.ImageRegistryCredentials,
            tags: r.Tags, securityGroupIDs: r.SecurityGroupIds)
        request.images = r.Images
        request.subnetID = r.SubnetId
        request.vpcID = r.VpcId
        request.existedEipID = r.ExistedEipId
        request.autoCreateEip = r.AutoCreateEip
        request.autoCreateEipAttribute = try r.AutoCreateEipAttribute.map {
            String(decoding: try Envelope.encoder().encode($0), as: UTF8.self)
        }
        request.registrySkipVerifyList = r.RegistrySkipVerifyList
        request.registryHttpEndPointList = r.RegistryHttpEndPointList
        request.resolveConfig = r.ResolveConfig
        request.refreshMinutes = r.RefreshIntervalMinutes
        request.platform = r.Platform
        return await CreateImageCacheResponse(ImageCacheId: try service.create(request, account: account, region: region).id)
    }

    func update(_ r: UpdateImageCacheRequest, account: String) async throws -> EmptyResponse {
        var request = Self.cacheRequest(
            name: r.ImageCacheName, size: r.ImageCacheSize, retentionDays: r.RetentionDays, credentials: r.ImageRegistryCredentials,
            tags: r.Tags, securityGroupIDs: r.SecurityGroupIds)
        request.images = r.Images
        request.refreshMinutes = r.RefreshIntervalMinutes
        _ = try await service.update(id: r.ImageCacheId, request, account: account)
        return EmptyResponse()
    }

    func delete(_ r: DeleteImageCachesRequest, account: String) async throws -> EmptyResponse {
        try await service.delete(ids: r.ImageCacheIds ?? [], account: account)
        return EmptyResponse()
    }

    func describe(_ r: DescribeImageCachesRequest, account: String) async throws -> DescribeImageCachesResponse {
        var query = CacheQuery()
        query.ids = r.ImageCacheIds
        query.names = r.ImageCacheNames
        query.limit = r.Limit ?? 20
        query.offset = r.Offset ?? 0
        for filter in r.Filters ?? [] {
            let values = filter.Values ?? []
            switch filter.Name {
            case "image-cache-name": query.names = (query.names ?? []) + values
            case "image-cache-id": query.ids = (query.ids ?? []) + values
            case "status":
                query.statuses = try values.map { v throws(APIError) in try APIError.oneOf(v, field: "Filters status value") }
            default:
                throw APIError.invalidParameterValue(
                    "Filters Name \"\(filter.Name.prefix(60))\" is not supported; use image-cache-name, image-cache-id or status")
            }
        }
        let (total, caches) = try await service.describe(account: account, query: query)
        return DescribeImageCachesResponse(TotalCount: total, ImageCaches: caches.map(Views.cache))
    }

    func mostSuitable(_ r: GetMostSuitableImageCacheRequest, account: String, region: String) async throws
        -> GetMostSuitableImageCacheResponse
    {
        // Every cache imc makes holds its images unpacked for overlayfs: that snapshotter, or none named.
        if let snapshotter = r.Snapshotter, !snapshotter.isEmpty, !["overlayfs", "overlay"].contains(snapshotter.lowercased()) {
            throw APIError.invalidParameterValue(
                "Snapshotter \"\(snapshotter.prefix(40))\" is not one imc's caches are made for: they hold images unpacked for overlayfs",
                field: "Snapshotter")
        }
        let found = try await service.match(images: r.Images, account: account, region: region)
        return GetMostSuitableImageCacheResponse(Found: found != nil, ImageCache: found.map(Views.cache))
    }

    static func cacheRequest(
        name: String?, size: Int?, retentionDays: Int?, credentials: [ImageRegistryCredential]?, tags: [Tag]?, securityGroupIDs: [String]?
    ) -> CacheRequest {
        var r = CacheRequest()
        r.name = name
        r.size = size
        r.retentionDays = retentionDays
        r.securityGroupIDs = securityGroupIDs
        r.credentials = credentials?.map(Views.credential)
        r.tags = tags?.map { CacheTag(key: $0.Key, value: $0.Value ?? "") }
        return r
    }
}

extension APIError {
    /// Every error below the door becomes an API error here, and only here.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as ServiceError:
            if let specific = e.specificCode { return APIError(specific, e.message) }
            switch e.code {
            case .invalidValue: return .invalidParameterValue(e.message)
            case .missing: return .missingParameter(e.message)
            case .notFound: return .resourceNotFound(e.message)
            case .limitExceeded: return .limitExceeded(e.message)
            case .inUse, .conflict: return .resourceInUse(e.message)
            case .failed, .diskTooSmall, .secretUnreadable: return .internalError("the service failed to handle the request; it was logged")
            }
        default: return .internalError("the service failed to handle the request; it was logged")
        }
    }
}

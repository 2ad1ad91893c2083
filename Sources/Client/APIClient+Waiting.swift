import IMCAPI

/// What clients of the API wait for: a cache's build to end, an instance to start, a delete to
/// finish (by polling, as the API has no other way to tell).
extension APIClient {
    /// The cache, or nil when the account has none of that id.
    public func cache(_ id: String) async throws -> ImageCacheView? {
        try await send(DescribeImageCachesRequest(ImageCacheIds: [id])).ImageCaches.first
    }

    /// Polls until the cache's build ended (Ready, Failed or UpdateFailed); returns it.
    public func waitForBuild(_ id: String, poll: Duration = .milliseconds(100)) async throws -> ImageCacheView {
        while true {
            guard let c = try await cache(id) else { throw APIError.resourceNotFound("ImageCacheId \(id) does not exist") }
            if ["Ready", "Failed", "UpdateFailed"].contains(c.Status) { return c }
            try await Task.sleep(for: poll)
        }
    }

    /// The instance, or nil when the account has none of that id.
    public func instance(_ id: String) async throws -> EksCi? {
        try await send(DescribeEKSContainerInstancesRequest(EksCiIds: [id])).EksCis.first
    }

    /// Deletes instances and polls until they are gone.
    public func deleteInstancesAndWait(_ ids: [String], poll: Duration = .milliseconds(20)) async throws {
        _ = try await send(DeleteEKSContainerInstancesRequest(EksCiIds: ids))
        for id in ids { while try await instance(id) != nil { try await Task.sleep(for: poll) } }
    }
}

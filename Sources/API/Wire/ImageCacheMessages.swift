import IMCDocuments

// The image cache actions of API.md section 2, as their fields are named on the wire.

/// `ImageRegistryCredential`: a registry's credentials. The password is sent, never returned.
public struct ImageRegistryCredential: Codable, Sendable, Equatable {
    public var Server: String
    public var Username: String?
    public var Password: String?
    public var Name: String?

    public init(Server: String, Username: String? = nil, Password: String? = nil, Name: String? = nil) {
        self.Server = Server
        self.Username = Username
        self.Password = Password
        self.Name = Name
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        Server = try c.decodeIfPresent(String.self, forKey: .Server) ?? ""
        guard !Server.isEmpty else { throw decoder.problem(.missing, at: CodingKeys.Server) }
        Username = try c.decodeIfPresent(String.self, forKey: .Username)
        Password = try c.decodeIfPresent(String.self, forKey: .Password)
        Name = try c.decodeIfPresent(String.self, forKey: .Name)
    }
}

/// A credential as the service returns it: never with its password.
public struct ImageRegistryCredentialView: Codable, Sendable, Equatable {
    public var Server: String
    public var Username: String
    @Nullable public var Name: String?

    public init(Server: String, Username: String, Name: String?) {
        self.Server = Server
        self.Username = Username
        self.Name = Name
    }
}

public struct Tag: Codable, Sendable, Equatable {
    public var Key: String
    public var Value: String?

    public init(Key: String, Value: String?) {
        self.Key = Key
        self.Value = Value
    }
}

/// The Cloud API's `Filters` entry.
public struct Filter: Codable, Sendable, Equatable {
    public var Name: String
    public var Values: [String]?

    public init(Name: String, Values: [String]?) {
        self.Name = Name
        self.Values = Values
    }
}

public struct CreateImageCacheRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.createImageCache
    public typealias Response = CreateImageCacheResponse

    public var Images: [String]
    public var ImageCacheName: String?
    public var ImageCacheSize: Int?
    public var RetentionDays: Int?
    public var ImageRegistryCredentials: [ImageRegistryCredential]?
    public var SubnetId: String?
    public var VpcId: String?
    public var SecurityGroupIds: [String]?
    public var ExistedEipId: String?
    public var AutoCreateEip: Bool?
    public var AutoCreateEipAttribute: JSONValue?
    public var RegistrySkipVerifyList: [String]?
    public var RegistryHttpEndPointList: [String]?
    public var ResolveConfig: String?
    public var Tags: [Tag]?
    /// imc's extension: check the images' tags this often (minutes, 0: never) and rebuild the
    /// cache in place when one moved.
    public var RefreshIntervalMinutes: Int?
    /// imc's extension: the OS and CPU architecture to cache the images for (`linux/arm64`);
    /// the host's by default. Pinned at creation.
    public var Platform: String?

    public init(Images: [String]) { self.Images = Images }
}

public struct CreateImageCacheResponse: Codable, Sendable, Equatable {
    public var ImageCacheId: String
    public init(ImageCacheId: String) { self.ImageCacheId = ImageCacheId }
}

public struct UpdateImageCacheRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.updateImageCache
    public typealias Response = EmptyResponse

    public var ImageCacheId: String
    public var ImageCacheName: String?
    public var ImageRegistryCredentials: [ImageRegistryCredential]?
    public var Images: [String]?
    public var ImageCacheSize: Int?
    public var RetentionDays: Int?
    public var SecurityGroupIds: [String]?
    public var Tags: [Tag]?
    public var RefreshIntervalMinutes: Int?

    public init(ImageCacheId: String) { self.ImageCacheId = ImageCacheId }
}

public struct DeleteImageCachesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.deleteImageCaches
    public typealias Response = EmptyResponse

    public var ImageCacheIds: [String]?

    public init(ImageCacheIds: [String]) { self.ImageCacheIds = ImageCacheIds }
}

public struct DescribeImageCachesRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.describeImageCaches
    public typealias Response = DescribeImageCachesResponse

    public var ImageCacheIds: [String]?
    public var ImageCacheNames: [String]?
    public var Limit: Int?
    public var Offset: Int?
    public var Filters: [Filter]?

    public init(ImageCacheIds: [String]? = nil, ImageCacheNames: [String]? = nil, Limit: Int? = nil, Offset: Int? = nil) {
        self.ImageCacheIds = ImageCacheIds
        self.ImageCacheNames = ImageCacheNames
        self.Limit = Limit
        self.Offset = Offset
    }
}

public struct DescribeImageCachesResponse: Codable, Sendable, Equatable {
    public var TotalCount: Int
    public var ImageCaches: [ImageCacheView]

    public init(TotalCount: Int, ImageCaches: [ImageCacheView]) {
        self.TotalCount = TotalCount
        self.ImageCaches = ImageCaches
    }
}

public struct GetMostSuitableImageCacheRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.getMostSuitableImageCache
    public typealias Response = GetMostSuitableImageCacheResponse

    public var Images: [String]
    public var Snapshotter: String?

    public init(Images: [String]) { self.Images = Images }
}

public struct GetMostSuitableImageCacheResponse: Codable, Sendable, Equatable {
    public var Found: Bool
    @Nullable public var ImageCache: ImageCacheView?

    public init(Found: Bool, ImageCache: ImageCacheView?) {
        self.Found = Found
        self.ImageCache = ImageCache
    }
}

/// The API's `ImageCache` object. Passwords are never part of it.
public struct ImageCacheView: Codable, Sendable, Equatable {
    public var ImageCacheId: String
    public var ImageCacheName: String
    public var ImageCacheSize: Int
    public var Images: [String]
    public var CreationTime: String
    @Nullable public var ExpireDateTime: String?
    @Nullable public var LastMatchedTime: String?
    @Nullable public var SnapshotId: String?
    public var Status: String
    public var RetentionDays: Int
    public var Events: [ImageCacheEventView]
    public var ImageRegistryCredentials: [ImageRegistryCredentialView]
    public var Tags: [Tag]
    public var ImageCacheType: String
    public var Snapshotter: String
    /// imc's extension: how far the (re)build has come, 0-100, from the bytes pulled against the
    /// images' sizes; 100 once Ready.
    public var Progress: Int
    /// imc's extension: how often the images' tags are checked (minutes; 0: never).
    public var RefreshIntervalMinutes: Int
    /// imc's extension: the platform the cache holds images for.
    public var Platform: String

    public init(
        ImageCacheId: String, ImageCacheName: String, ImageCacheSize: Int, Images: [String], CreationTime: String, ExpireDateTime: String?,
        LastMatchedTime: String?, SnapshotId: String?, Status: String, RetentionDays: Int, Events: [ImageCacheEventView],
        ImageRegistryCredentials: [ImageRegistryCredentialView], Tags: [Tag], ImageCacheType: String = "imc",
        Snapshotter: String = "overlayfs", Progress: Int = 0, RefreshIntervalMinutes: Int = 0, Platform: String = "linux/amd64"
    ) {
        self.Platform = Platform
        self.RefreshIntervalMinutes = RefreshIntervalMinutes
        self.Progress = Progress
        self.ImageCacheId = ImageCacheId
        self.ImageCacheName = ImageCacheName
        self.ImageCacheSize = ImageCacheSize
        self.Images = Images
        self.CreationTime = CreationTime
        self.ExpireDateTime = ExpireDateTime
        self.LastMatchedTime = LastMatchedTime
        self.SnapshotId = SnapshotId
        self.Status = Status
        self.RetentionDays = RetentionDays
        self.Events = Events
        self.ImageRegistryCredentials = ImageRegistryCredentials
        self.Tags = Tags
        self.ImageCacheType = ImageCacheType
        self.Snapshotter = Snapshotter
    }
}

/// `ImageCacheEvent`.
public struct ImageCacheEventView: Codable, Sendable, Equatable {
    public var ImageCacheId: String
    public var `Type`: String
    public var Reason: String
    public var Message: String
    public var FirstTimestamp: String
    public var LastTimestamp: String

    public init(ImageCacheId: String, Type: String, Reason: String, Message: String, FirstTimestamp: String, LastTimestamp: String) {
        self.ImageCacheId = ImageCacheId
        self.`Type` = Type
        self.Reason = Reason
        self.Message = Message
        self.FirstTimestamp = FirstTimestamp
        self.LastTimestamp = LastTimestamp
    }
}

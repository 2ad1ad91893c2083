/// Every action the Cloud API door answers, declared once: the server dispatches on it, counts
/// requests by it (a bounded metric label), and the client names it.
public enum CloudAction: String, CaseIterable, Sendable {
    case createImageCache = "CreateImageCache"
    case describeImageCaches = "DescribeImageCaches"
    case updateImageCache = "UpdateImageCache"
    case deleteImageCaches = "DeleteImageCaches"
    case getMostSuitableImageCache = "GetMostSuitableImageCache"
    case createEKSContainerInstances = "CreateEKSContainerInstances"
    case describeEKSContainerInstances = "DescribeEKSContainerInstances"
    case describeEKSContainerInstanceEvent = "DescribeEKSContainerInstanceEvent"
    case describeEksContainerInstanceLog = "DescribeEksContainerInstanceLog"
    case deleteEKSContainerInstances = "DeleteEKSContainerInstances"
    case restartEKSContainerInstances = "RestartEKSContainerInstances"
    case describeImageCacheBill = "DescribeImageCacheBill"

    /// Whether the action changes state (a create, update, delete or restart).
    public var isChanging: Bool {
        switch self {
        case .createImageCache, .updateImageCache, .deleteImageCaches, .createEKSContainerInstances, .deleteEKSContainerInstances,
            .restartEKSContainerInstances:
            true
        default: false
        }
    }
}

/// A request of one Cloud API action, as its fields are named on the wire (PascalCase, as the
/// official SDKs' models): encoded by the client, read strictly by the server.
public protocol CloudAPIRequest: Codable, Sendable {
    associatedtype Response: Codable, Sendable
    static var action: CloudAction { get }
    /// Reads the request's fields with the types they must have; an unknown field is refused by
    /// name once the caller has read everything (`Parameters.finish()`).
    init(reading p: inout Parameters) throws(APIError)
}

/// A response with no fields beyond the envelope's `RequestId`.
public struct EmptyResponse: Codable, Sendable, Equatable {
    public init() {}
}

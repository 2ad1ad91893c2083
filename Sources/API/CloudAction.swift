import IMCDocuments

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
    case updateEKSContainerInstance = "UpdateEKSContainerInstance"
    case describeEKSContainerInstanceRegions = "DescribeEKSContainerInstanceRegions"
    case describeImageCacheBill = "DescribeImageCacheBill"
    /// The VPC API's, for elastic IPs.
    case describeAddresses = "DescribeAddresses"
    case releaseAddresses = "ReleaseAddresses"

    /// The service whose API the action belongs to (the signature's credential scope).
    public var service: String { self == .describeAddresses || self == .releaseAddresses ? "vpc" : "tke" }
    /// The API version its requests name (`X-TC-Version`).
    public var version: String { service == "vpc" ? "2017-03-12" : "2018-05-25" }

    /// Whether the action changes state (a create, update, delete or restart).
    public var isChanging: Bool {
        switch self {
        case .createImageCache, .updateImageCache, .deleteImageCaches, .createEKSContainerInstances, .deleteEKSContainerInstances,
            .restartEKSContainerInstances, .updateEKSContainerInstance, .releaseAddresses:
            true
        default: false
        }
    }
}

/// A request of one Cloud API action, as its fields are named on the wire (PascalCase, as the
/// official SDKs' models): encoded by the client, read by the server through the strict decoder.
public protocol CloudAPIRequest: Codable, Sendable {
    associatedtype Response: Codable, Sendable
    static var action: CloudAction { get }
}

extension CloudAPIRequest {
    /// The request in `body` (JSON; an empty body is an empty object), every field of the type it
    /// must have; a field the action does not take is refused by name.
    public static func decode(body: [UInt8]) throws(APIError) -> Self {
        let value: JSONValue
        if body.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }) {
            value = .object([:])
        } else {
            do { value = try JSONValue.parseJSON(body) } catch { throw APIError.invalidParameter("the request body is not a JSON object") }
        }
        do { return try StrictDecoder().decode(Self.self, from: value) } catch { throw APIError(error) }
    }
}

/// A response with no fields beyond the envelope's `RequestId`.
public struct EmptyResponse: Codable, Sendable, Equatable {
    public init() {}
}

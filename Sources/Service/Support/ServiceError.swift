import IMCDocuments
import IMCModel

/// A refusal or failure of the services, in terms the doors map to their codes (the Cloud API's
/// in `APIError.from`, the console's next to the field): the message names the field and the
/// value; `cause` keeps what failed underneath, for the log.
public struct ServiceError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A value is out of range or malformed.
        case invalidValue
        /// A required value is missing.
        case missing
        /// No such resource of this account.
        case notFound
        /// A quota or limit would be passed.
        case limitExceeded
        /// The resource is busy (building, starting) and cannot be changed now.
        case inUse
        /// The change was made against a version of the resource that is no longer current.
        case conflict
        /// Work under way failed (an instance's start, a build); the message is for a person.
        case failed
        /// A build's images do not fit the cache's size.
        case diskTooSmall
        /// A sealed secret of the resource cannot be opened (the master key changed?).
        case secretUnreadable
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?
    /// The real service's own code for this refusal, where it has a more precise one than the
    /// code's (e.g. `InvalidSecurityGroupId.NotFound`).
    public var specificCode: String?
    /// The request's field the refusal is about, when it is about one.
    public var field: FieldPath?

    public init(
        _ code: Code, _ message: String, field: FieldPath? = nil, cause: (any Error & Sendable)? = nil, specificCode: String? = nil
    ) {
        self.code = code
        self.message = message
        self.field = field
        self.cause = cause
        self.specificCode = specificCode
    }

    public static func invalidValue(_ field: FieldPath?, _ m: String) -> ServiceError { ServiceError(.invalidValue, m, field: field) }
    public static func missing(_ field: FieldPath?, _ m: String) -> ServiceError { ServiceError(.missing, m, field: field) }
    public static func notFound(_ m: String) -> ServiceError { ServiceError(.notFound, m) }
    public static func limitExceeded(_ m: String) -> ServiceError { ServiceError(.limitExceeded, m) }
    public static func inUse(_ m: String, field: FieldPath? = nil) -> ServiceError { ServiceError(.inUse, m, field: field) }
    public static func failed(_ m: String, cause: (any Error & Sendable)? = nil) -> ServiceError { ServiceError(.failed, m, cause: cause) }

    public static func == (a: ServiceError, b: ServiceError) -> Bool {
        a.code == b.code && a.message == b.message && a.specificCode == b.specificCode && a.field == b.field
    }

    public var description: String { message }
}

/// `metav1.Status`: what the API server answers when it refuses a request, and what kubectl
/// prints as "Error from server (Reason): message".
public struct Status: Codable, Sendable, Equatable {
    public var kind = "Status"
    public var apiVersion = "v1"
    public var metadata = ListMeta()
    /// `Failure` (imc sends no `Success` statuses).
    public var status = "Failure"
    public var message: String
    /// `NotFound`, `AlreadyExists`, `Invalid`, ...: the machine-readable why.
    public var reason: String
    public var details: StatusDetails?
    /// The HTTP status code.
    public var code: Int

    public init(code: Int, reason: String, message: String, details: StatusDetails? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }
}

/// Which object a status is about, and for `Invalid`, each field's cause.
public struct StatusDetails: Codable, Sendable, Equatable {
    public var name: String?
    public var group: String?
    /// The resource (`imagecaches`) for most reasons, the kind (`ImageCache`) for `Invalid`, as
    /// the API server writes them.
    public var kind: String?
    public var causes: [StatusCause]?

    public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [StatusCause]? = nil) {
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes
    }
}

/// One field's problem.
public struct StatusCause: Codable, Sendable, Equatable {
    /// `FieldValueInvalid`.
    public var reason: String
    public var message: String
    /// The field's path (`spec.containers[0].image`).
    public var field: String

    public init(reason: String = "FieldValueInvalid", message: String, field: String) {
        self.reason = reason
        self.message = message
        self.field = field
    }
}

/// `metav1.ListMeta`: a list's (or a status's) metadata.
public struct ListMeta: Codable, Sendable, Equatable {
    public var resourceVersion: String?
    /// The token of the next page, when there is one.
    public var `continue`: String?
    public var remainingItemCount: Int?

    public init(resourceVersion: String? = nil) { self.resourceVersion = resourceVersion }
}

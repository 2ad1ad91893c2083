/// An error the Cloud API returns in its envelope, with the real service's codes (API.md section 1).
/// Every layer's errors become one of these in exactly one place (`APIError.from`).
public struct APIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// What failed below the door (for the log; never sent).
    public var cause: (any Error & Sendable)?

    public init(_ code: String, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public static func == (a: APIError, b: APIError) -> Bool { a.code == b.code && a.message == b.message }

    public var description: String { "\(code): \(message)" }

    public static func signatureFailure(_ m: String) -> APIError { APIError("AuthFailure.SignatureFailure", m) }
    public static func signatureExpire(_ m: String) -> APIError { APIError("AuthFailure.SignatureExpire", m) }
    public static func secretIDNotFound(_ m: String) -> APIError { APIError("AuthFailure.SecretIdNotFound", m) }
    public static func unauthorized(_ m: String) -> APIError { APIError("AuthFailure.UnauthorizedOperation", m) }
    public static func invalidAction(_ m: String) -> APIError { APIError("InvalidAction", m) }
    public static func invalidParameter(_ m: String) -> APIError { APIError("InvalidParameter", m) }
    public static func invalidParameterValue(_ m: String) -> APIError { APIError("InvalidParameterValue", m) }
    public static func missingParameter(_ m: String) -> APIError { APIError("MissingParameter", m) }
    public static func unknownParameter(_ m: String) -> APIError { APIError("UnknownParameter", m) }
    public static func resourceNotFound(_ m: String) -> APIError { APIError("ResourceNotFound", m) }
    public static func resourceInUse(_ m: String) -> APIError { APIError("ResourceInUse", m) }
    public static func unsupportedOperation(_ m: String) -> APIError { APIError("UnsupportedOperation", m) }
    public static func limitExceeded(_ m: String) -> APIError { APIError("LimitExceeded", m) }
    public static func internalError(_ m: String) -> APIError { APIError("InternalError", m) }
}

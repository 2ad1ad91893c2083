import IMCDocuments

/// An error the Cloud API returns in its envelope, with the real service's codes (API.md section 1).
/// Every layer's errors become one of these in exactly one place (`APIError.from`).
public struct APIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// The request's field the error is about, when it is about one.
    public var field: FieldPath?
    /// What failed below the door (for the log; never sent).
    public var cause: (any Error & Sendable)?

    public init(_ code: String, _ message: String, field: FieldPath? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.cause = cause
    }

    /// A request body's problem as the real service reports it: `MissingParameter`,
    /// `InvalidParameter` (a value of the wrong type), `UnknownParameter`, `InvalidParameterValue`.
    public init(_ problem: DecodingProblem) {
        let path = problem.path.components.isEmpty ? nil : problem.path
        switch problem.kind {
        case .missing: self.init("MissingParameter", problem.message, field: path)
        case .wrongType where path == nil, .unreadable: self.init("InvalidParameter", "the request body is not a JSON object", field: path)
        case .wrongType: self.init("InvalidParameter", problem.message, field: path)
        case .unknownField: self.init("UnknownParameter", "\(problem.path) is not a parameter of this action", field: path)
        case .invalid: self.init("InvalidParameterValue", problem.message, field: path)
        }
    }

    /// `value` as one of `E`'s cases, or an error naming the field, the value and the cases.
    public static func oneOf<E: RawRepresentable & CaseIterable>(_ value: String, field: FieldPath) throws(APIError) -> E
    where E.RawValue == String {
        guard let v = E(rawValue: value) else {
            throw .invalidParameterValue(
                "\(field) \"\(value.prefix(60))\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))", field: field)
        }
        return v
    }

    public static func == (a: APIError, b: APIError) -> Bool { a.code == b.code && a.message == b.message }

    public var description: String { "\(code): \(message)" }

    public static func signatureFailure(_ m: String) -> APIError { APIError("AuthFailure.SignatureFailure", m) }
    public static func signatureExpire(_ m: String) -> APIError { APIError("AuthFailure.SignatureExpire", m) }
    public static func secretIDNotFound(_ m: String) -> APIError { APIError("AuthFailure.SecretIdNotFound", m) }
    public static func unauthorized(_ m: String) -> APIError { APIError("AuthFailure.UnauthorizedOperation", m) }
    public static func invalidAction(_ m: String) -> APIError { APIError("InvalidAction", m) }
    public static func invalidParameter(_ m: String, field: FieldPath? = nil) -> APIError { APIError("InvalidParameter", m, field: field) }
    public static func invalidParameterValue(_ m: String, field: FieldPath? = nil) -> APIError {
        APIError("InvalidParameterValue", m, field: field)
    }
    public static func missingParameter(_ m: String, field: FieldPath? = nil) -> APIError { APIError("MissingParameter", m, field: field) }
    public static func unknownParameter(_ m: String, field: FieldPath? = nil) -> APIError { APIError("UnknownParameter", m, field: field) }
    public static func resourceNotFound(_ m: String) -> APIError { APIError("ResourceNotFound", m) }
    public static func resourceInUse(_ m: String) -> APIError { APIError("ResourceInUse", m) }
    public static func unsupportedOperation(_ m: String) -> APIError { APIError("UnsupportedOperation", m) }
    public static func limitExceeded(_ m: String) -> APIError { APIError("LimitExceeded", m) }
    public static func internalError(_ m: String) -> APIError { APIError("InternalError", m) }
}

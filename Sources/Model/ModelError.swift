/// Why a value given to imc is not acceptable. Every case names the offending value, so that
/// the message can be shown to a person as it is.
public struct ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of value was refused.
    public enum Code: String, Sendable {
        case invalidReference
        case invalidDigest
        case invalidPlatform
        case invalidDocument
        case unsupportedMediaType
        case invalidCredentials
    }

    /// What kind of value was refused.
    public let code: Code
    /// A sentence that names the field and the value.
    public let message: String
    /// The failure underneath (a JSON decoder's), kept for the log.
    public let cause: (any Error & Sendable)?

    /// Makes an error with its code and message.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public static func == (a: ModelError, b: ModelError) -> Bool { a.code == b.code && a.message == b.message }

    public var description: String { message }
}

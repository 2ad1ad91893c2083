/// A failure of the store itself.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A row that was expected is not there (deleted meanwhile).
        case gone
        /// A name that must be unique is taken.
        case duplicate
        /// A sealed secret cannot be opened, or a key is not usable.
        case secret
        /// Everything of a kind is in use (id ranges).
        case exhausted
        /// The database failed.
        case database
    }
    public let code: Code
    public let message: String
    /// The failure underneath (the database's, the cipher's), kept for the log.
    public let cause: (any Error)?
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
    public var description: String { message }
}

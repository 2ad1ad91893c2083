/// Why a disk or snapshot operation failed.
public struct DiskError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case io
        case command
        case notFound
        case corrupt
        case diskFull
    }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

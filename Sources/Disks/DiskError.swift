import IMCOS

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
    /// The failure underneath (a system call's, a command's), kept for the log.
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// A disk error from the operating system's: its code follows the system's reason.
    init(_ error: OSError) {
        let code: Code =
            switch error.code {
            case .diskFull: .diskFull
            case .notFound: .notFound
            case .command: .command
            case .io: .io
            }
        self.init(code, error.message, cause: error)
    }

    public var description: String { message }
}

/// Runs `body`, turning the operating system's errors into disk errors.
@discardableResult
func asDiskError<T>(_ body: () async throws -> T) async throws(DiskError) -> T {
    do { return try await body() } catch let e as DiskError { throw e } catch let e as OSError { throw DiskError(e) } catch {
        throw DiskError(.io, "\(error)", cause: nil)
    }
}

/// Runs blocking `body` on the shared pool, turning the operating system's errors into disk
/// errors.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(DiskError) -> T {
    try await asDiskError { try await BlockingPool.shared.run(body) }
}

import Glibc

/// Why an operating-system call, a mount or a command failed. The message names what was asked
/// for; `errno` keeps the system's own reason, so that callers classify by number, never by
/// message text.
public struct OSError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A system call failed (see `errno`).
        case io
        /// No space (or quota) left on the filesystem written to.
        case diskFull
        /// A file or directory that was expected is not there.
        case notFound
        /// A command could not be started, or ended with a failure status.
        case command
    }

    public let code: Code
    public let message: String
    /// The system's error number, when a system call failed.
    public let errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    /// The error of a failed system call: `what` names the call and its object, `number` is
    /// the `errno` it left (the calling thread's by default).
    public static func system(_ what: String, _ number: Int32 = Glibc.errno) -> OSError {
        let code: Code =
            switch number {
            case ENOSPC, EDQUOT: .diskFull
            case ENOENT: .notFound
            default: .io
            }
        return OSError(code, "\(what): \(String(cString: strerror(number)))", errno: number)
    }

    public var description: String { message }
}

import IMCContent
import IMCModel
import IMCRegistry
import IMCUnpack

/// Why a pull failed, with an exit code that scripts can test.
public struct PullError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case badReference
        case notFound
        case unauthorized
        case unreachable
        case noMatchingPlatform
        case badImage
        case diskFull
        case io
        case registry
    }

    public let code: Code
    public let message: String
    /// The error of the layer below it came from, kept for the log.
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    /// The process exit code `imc` uses for this failure.
    public var exitCode: Int32 {
        switch code {
        case .badReference: return 2
        case .notFound: return 3
        case .unauthorized: return 4
        case .unreachable: return 5
        case .noMatchingPlatform: return 6
        case .badImage: return 7
        case .diskFull: return 8
        case .io: return 9
        case .registry: return 10
        }
    }

    /// Maps the errors of the layers below into pull errors, in one place.
    public static func from(_ error: any Error) -> PullError {
        switch error {
        case let e as PullError: return e
        case let e as ModelError:
            return PullError(e.code == .invalidReference || e.code == .invalidPlatform ? .badReference : .badImage, e.message, cause: e)
        case let e as RegistryError:
            switch e.code {
            case .notFound: return PullError(.notFound, e.message, cause: e)
            case .unauthorized, .denied: return PullError(.unauthorized, e.message, cause: e)
            case .unreachable, .stalled: return PullError(.unreachable, e.description, cause: e)
            case .noMatchingPlatform: return PullError(.noMatchingPlatform, e.message, cause: e)
            case .digestMismatch, .tooLarge: return PullError(.badImage, e.message, cause: e)
            case .unavailable, .protocolViolation, .refused, .addressRefused: return PullError(.registry, e.message, cause: e)
            }
        case let e as ContentError:
            switch e.code {
            case .diskFull: return PullError(.diskFull, e.message, cause: e)
            case .digestMismatch, .sizeMismatch, .tooLarge: return PullError(.badImage, e.message, cause: e)
            case .notFound, .io: return PullError(.io, e.message, cause: e)
            }
        case let e as UnpackError:
            switch e.code {
            case .diskFull: return PullError(.diskFull, e.message, cause: e)
            case .io: return PullError(.io, e.message, cause: e)
            default: return PullError(.badImage, e.message, cause: e)
            }
        default:
            return PullError(.io, "\(error)", cause: error)
        }
    }
}

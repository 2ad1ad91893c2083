/// Why talking to a registry failed, in terms a person can act on. Messages name the registry,
/// repository or digest involved, never a credential or a signed URL.
public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The registry refused the credentials (or asked for some and had none).
        case unauthorized
        /// The credentials are valid but do not allow this (403).
        case denied
        /// The image, tag or blob does not exist.
        case notFound
        /// The registry could not be reached (DNS, refused connection, TLS failure).
        case unreachable
        /// The registry kept answering 429 or 5xx after every retry.
        case unavailable
        /// The registry broke the protocol (bad redirect, wrong size, missing header).
        case protocolViolation
        /// A safety rule refused the registry's request (https→http redirect, private token realm).
        case refused
        /// The registry's address is in a network the service's policy refuses
        /// (`RegistryAllowedNetworks`): loopback, link-local, private, the service's own.
        case addressRefused
        /// A document was larger than imc accepts.
        case tooLarge
        /// Served bytes do not match their digest.
        case digestMismatch
        /// The image has no manifest for the requested platform.
        case noMatchingPlatform
        /// The transfer stopped moving and every retry stalled too.
        case stalled
    }

    public let code: Code
    public let message: String
    /// The failure underneath (a connection's, a TLS handshake's), kept for the log.
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message) (\($0))" } ?? message }
}

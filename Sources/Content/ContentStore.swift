import Foundation
import IMCModel

/// Where pulled blobs (manifests, configs, compressed layers) live, addressed by digest.
///
/// Contract: a blob appears under its digest only after its size and digest were checked, by an
/// atomic rename, so a reader never sees a partial or wrong blob; writing a blob that is already
/// present is a no-op; `tag` replaces the descriptor a name points at atomically.
public protocol ContentStore: Sendable {
    /// Whether the verified blob is present.
    func contains(_ digest: Digest) -> Bool
    /// The file that holds the blob (it may not exist).
    func path(of digest: Digest) -> String
    /// Reads a small blob whole, refusing one larger than `maxSize`.
    func read(_ digest: Digest, maxSize: Int) throws(ContentError) -> Data
    /// Stores `data`, checking it against `expected` when given; returns its digest.
    @discardableResult
    func write(_ data: Data, expected: Digest?) throws(ContentError) -> Digest
    /// A writer that streams one blob in and commits it only if it matches `expected`.
    func writer(for expected: Descriptor) throws(ContentError) -> BlobWriter
    /// Points `name` (an image reference) at `descriptor` in the store's index.
    func tag(_ name: String, _ descriptor: Descriptor) throws(ContentError)
    /// The descriptor `name` points at, if any.
    func resolve(_ name: String) throws(ContentError) -> Descriptor?
}

/// Why the content store refused or failed.
public struct ContentError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case sizeMismatch
        case digestMismatch
        case notFound
        case tooLarge
        case io
        case diskFull
    }
    public let code: Code
    public let message: String
    /// The failure underneath, kept for the log.
    public let cause: (any Error & Sendable)?
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
    public var description: String { message }
}

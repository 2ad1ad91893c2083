/// Why a layer could not be unpacked. A layer that fails leaves nothing under its final name.
public struct UnpackError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The tar stream is malformed (bad checksum, truncated, bad number, bad PAX record).
        case malformedArchive
        /// An entry tries to reach outside the layer's root.
        case pathEscape
        /// A whiteout entry is malformed (`.wh.`, `.wh..`).
        case malformedWhiteout
        /// A limit (bytes, entries, name length, header size) was exceeded.
        case limitExceeded
        /// An entry type imc does not unpack (sparse files, ...).
        case unsupportedEntry
        /// A hardlink whose target is not in the same layer.
        case badHardlink
        /// A system call failed.
        case io
        /// The filesystem written to is full (or its quota is).
        case diskFull
        /// The uncompressed digest does not match the config's `diff_ids`.
        case diffIDMismatch
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

/// Caps that bound what one layer may make imc do, against decompression and tar bombs.
public struct UnpackLimits: Sendable {
    /// Most uncompressed bytes of file content in one layer.
    public var maxLayerBytes: Int64 = 128 << 30
    /// Most entries in one layer.
    public var maxEntries: Int = 2_000_000
    /// Longest entry name or link target, in bytes.
    public var maxNameLength: Int = 4096
    /// Largest PAX or GNU long-name header, in bytes.
    public var maxHeaderSize: Int = 1 << 20
    /// Largest single xattr value.
    public var maxXattrSize: Int = 64 << 10

    public init() {}

    /// The most bytes a layer's whole uncompressed stream may have: content, plus headers and
    /// padding for every entry, plus a little trailing slack.
    public var maxStreamBytes: Int64 {
        let (sum, overflow) = maxLayerBytes.addingReportingOverflow(Int64(maxEntries) * 1536 + (64 << 20))
        return overflow ? .max : sum
    }
}

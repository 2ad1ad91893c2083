import CIMCSys
import Foundation
import Glibc
import IMCModel
import IMCOS
import Synchronization

import struct Crypto.SHA256

/// A `ContentStore` that is an OCI image layout on a local filesystem (`oci-layout`,
/// `index.json`, `blobs/sha256/<hex>`), readable by `skopeo inspect oci:DIR:REF`. Partial
/// downloads live in `ingest/` and are removed when the store is opened.
public final class OCILayoutStore: ContentStore {
    /// The layout's root directory.
    public let root: String
    private let indexLock = Mutex(())

    /// Opens (and creates, if needed) the layout at `root`, removing partial downloads a crash left.
    public init(root: String) throws(ContentError) {
        self.root = root
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: root + "/blobs/sha256", withIntermediateDirectories: true)
            try? fm.removeItem(atPath: root + "/ingest")
            try fm.createDirectory(atPath: root + "/ingest", withIntermediateDirectories: true)
            if !fm.fileExists(atPath: root + "/oci-layout") {
                try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: root + "/oci-layout"), options: .atomic)
            }
            if !fm.fileExists(atPath: root + "/index.json") {
                try writeIndex(ImageIndex(mediaType: MediaType.ociIndex, manifests: []))
            }
        } catch let e as ContentError {
            throw e
        } catch {
            throw ContentError(.io, "cannot create OCI layout at \(root): \(error.localizedDescription)")
        }
    }

    public func contains(_ digest: Digest) -> Bool { access(path(of: digest), F_OK) == 0 }

    public func path(of digest: Digest) -> String { "\(root)/blobs/sha256/\(digest.hex)" }

    public func read(_ digest: Digest, maxSize: Int) throws(ContentError) -> Data {
        let p = path(of: digest)
        var st = stat()
        guard stat(p, &st) == 0 else { throw ContentError(.notFound, "blob \(digest) is not in the store") }
        guard st.st_size <= maxSize else { throw ContentError(.tooLarge, "blob \(digest) is \(st.st_size) bytes, more than \(maxSize)") }
        guard let data = FileManager.default.contents(atPath: p) else { throw Self.ioError("read \(p)") }
        return data
    }

    @discardableResult
    public func write(_ data: Data, expected: Digest?) throws(ContentError) -> Digest {
        let digest = Digest(sha256: SHA256.hash(data: data))
        if let expected, expected != digest {
            throw ContentError(.digestMismatch, "blob has digest \(digest), but \(expected) was expected")
        }
        if contains(digest) { return digest }
        let w = try writer(for: Descriptor(mediaType: "application/octet-stream", digest: digest, size: Int64(data.count)))
        let bytes = [UInt8](data)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        try w.write(UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count]))
        try w.commit()
        return digest
    }

    public func writer(for expected: Descriptor) throws(ContentError) -> BlobWriter {
        let temp = "\(root)/ingest/\(expected.digest.hex).\(UInt32.random(in: 0...UInt32.max))"
        return try BlobWriter(expected: expected, temporaryPath: temp, finalPath: path(of: expected.digest))
    }

    /// The annotation OCI layouts use to name a manifest.
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"

    public func tag(_ name: String, _ descriptor: Descriptor) throws(ContentError) {
        try indexLock.withLock { _ throws(ContentError) in
            var index = try readIndex()
            index.manifests.removeAll { $0.annotations?[Self.refNameAnnotation] == name }
            var d = descriptor
            var annotations = d.annotations ?? [:]
            annotations[Self.refNameAnnotation] = name
            d.annotations = annotations
            index.manifests.append(d)
            try writeIndex(index)
        }
    }

    public func resolve(_ name: String) throws(ContentError) -> Descriptor? {
        try indexLock.withLock { _ throws(ContentError) in
            try readIndex().manifests.last { $0.annotations?[Self.refNameAnnotation] == name }
        }
    }

    private func readIndex() throws(ContentError) -> ImageIndex {
        guard let data = FileManager.default.contents(atPath: root + "/index.json") else {
            throw Self.ioError("read \(root)/index.json")
        }
        do { return try JSONDecoder().decode(ImageIndex.self, from: data) } catch {
            throw ContentError(.io, "\(root)/index.json is not a valid OCI index")
        }
    }

    private func writeIndex(_ index: ImageIndex) throws(ContentError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            let data = try encoder.encode(index)
            try AtomicFile.write(data, to: root + "/index.json")
        } catch let e as OSError {
            throw e.code == .diskFull ? ContentError(.diskFull, e.message) : ContentError(.io, e.message)
        } catch {
            throw ContentError(.io, "cannot encode index.json")
        }
    }

    static func ioError(_ what: String, _ code: Int32 = errno) -> ContentError {
        if code == ENOSPC || code == EDQUOT {
            return ContentError(.diskFull, "\(what): no space left on device")
        }
        return ContentError(.io, "\(what): \(String(cString: strerror(code)))")
    }
}

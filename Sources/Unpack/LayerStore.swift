import Foundation
import Glibc
import IMCModel
import IMCOS

/// Unpacked layers, one overlay-ready directory per layer under `layers/sha256/<diff-id hex>`.
/// A layer is unpacked into `layers/tmp/` and renamed into place only once it is complete and
/// synced, so a crash leaves either the whole layer or nothing under its final name; leftovers
/// in `layers/tmp/` are removed when the store is opened.
public struct LayerStore: Sendable {
    /// The directory that holds `sha256/` and `tmp/`.
    public let root: String

    public init(root: String) throws(UnpackError) {
        self.root = root
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: root + "/sha256", withIntermediateDirectories: true)
            if fm.fileExists(atPath: root + "/tmp") { try fm.removeItem(atPath: root + "/tmp") }
            try fm.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        } catch {
            throw UnpackError(.io, "cannot create layer store at \(root): \(error.localizedDescription)")
        }
    }

    /// The final directory of the layer with this uncompressed digest.
    public func path(of diffID: Digest) -> String { "\(root)/sha256/\(diffID.hex)" }

    /// Whether the layer is already unpacked.
    public func contains(_ diffID: Digest) -> Bool { access(path(of: diffID), F_OK) == 0 }

    /// A fresh empty directory to unpack into.
    public func makeTemporary(for name: String) throws(UnpackError) -> String {
        let p = "\(root)/tmp/\(name).\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(p, 0o755) == 0 else { throw LayerExtractor.ioError("mkdir \(p)") }
        return p
    }

    /// Moves a complete, synced temporary directory to its final name. If another pull put the
    /// same layer there first, the temporary one is removed instead.
    public func commit(_ temporary: String, as diffID: Digest) throws(UnpackError) {
        let final = path(of: diffID)
        if rename(temporary, final) != 0 {
            let e = errno
            if e == EEXIST || e == ENOTEMPTY {
                discard(temporary)
                return
            }
            throw LayerExtractor.ioError("rename \(temporary)", e)
        }
        let dir = open(root + "/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    /// Removes a temporary directory and everything in it.
    public func discard(_ temporary: String) {
        try? FileManager.default.removeItem(atPath: temporary)
    }
}

extension LayerStore {
    /// Records a layer's unpacked size, read back when the layer is reused.
    public func recordSize(_ bytes: Int64, of diffID: Digest) throws(UnpackError) {
        let dir = root + "/meta"
        mkdir(dir, 0o755)
        let path = "\(dir)/\(diffID.hex)"
        do { try AtomicFile.write("\(bytes)\n", to: path, sync: false) } catch {
            throw UnpackError(error.code == .diskFull ? .diskFull : .io, error.message)
        }
    }

    /// The unpacked size recorded for a layer.
    public func recordedSize(of diffID: Digest) -> Int64? {
        guard let data = FileManager.default.contents(atPath: "\(root)/meta/\(diffID.hex)") else { return nil }
        return Int64(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

import IMCCompression

/// One entry of a tar archive, with PAX and GNU extensions already folded in.
public struct TarEntry: Sendable {
    public enum Kind: Sendable, Equatable {
        case regular
        case hardlink
        case symlink
        case characterDevice
        case blockDevice
        case directory
        case fifo
    }

    public var kind: Kind
    /// The name as stored, not yet cleaned.
    public var name: String
    public var linkName: String
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var size: Int64
    public var mtime: Int64
    public var devMajor: UInt32
    public var devMinor: UInt32
    /// `SCHILY.xattr.*` records, name to value.
    public var xattrs: [(String, [UInt8])]
}

/// A streaming reader of POSIX ustar, PAX and GNU tar archives over a `ByteSource`. It holds one
/// buffer of input, never a whole file. Call `next()` for each header; the entry's content must
/// be consumed with `readContent` (or is skipped by the next `next()`).
public final class TarReader {
    private let source: ByteSource
    private let limits: UnpackLimits
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var sourceDone = false
    /// Content bytes of the current entry not yet consumed, and the padding after them.
    private var remaining: Int64 = 0
    private var padding = 0
    /// Number of entries returned.
    public private(set) var entryCount = 0
    /// Sum of content sizes returned.
    public private(set) var contentBytes: Int64 = 0

    public init(_ source: ByteSource, limits: UnpackLimits = UnpackLimits()) {
        self.source = source
        self.limits = limits
        buffer = .allocate(byteCount: 1 << 20, alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Ensures at least `n` (<= buffer size) bytes are buffered; false at end of input.
    private func fill(_ n: Int) throws -> Bool {
        if end - start >= n { return true }
        if start > 0 {
            let count = end - start
            if count > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: count) }
            start = 0
            end = count
        }
        while end - start < n && !sourceDone {
            let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if got == 0 { sourceDone = true } else { end += got }
        }
        return end - start >= n
    }

    private func skip(_ n: Int64) throws {
        var left = n
        while left > 0 {
            if start == end {
                guard try fill(1) else { throw truncated() }
            }
            let k = Int(min(Int64(end - start), left))
            start += k
            left -= Int64(k)
        }
    }

    private func truncated() -> UnpackError { UnpackError(.malformedArchive, "tar stream is truncated") }

    /// Reads the next header, or nil at the end of the archive.
    public func next() throws -> TarEntry? {
        if remaining > 0 || padding > 0 {
            try skip(remaining + Int64(padding))
            remaining = 0
            padding = 0
        }
        var paxPath: String?
        var paxLink: String?
        var paxSize: Int64?
        var paxUID: Int?
        var paxGID: Int?
        var paxMtime: Int64?
        var xattrs: [(String, [UInt8])] = []
        var gnuLongName: String?
        var gnuLongLink: String?
        while true {
            guard try fill(512) else {
                if end == start { return nil }  // EOF without the end-of-archive blocks, as some writers do
                throw truncated()
            }
            let header = UnsafeRawBufferPointer(rebasing: buffer[start..<start + 512])
            if header.allSatisfy({ $0 == 0 }) {
                start += 512
                return nil
            }
            try verifyChecksum(header)
            let typeflag = header[156]
            let size = try number(header, 124, 12, "size")
            guard size >= 0 else { throw UnpackError(.malformedArchive, "tar entry has a negative size") }
            var name = cString(header, 0, 100)
            let isUstar = bytesEqual(header, 257, Array("ustar".utf8))
            if isUstar && header[262] == 0 {  // POSIX ustar: a prefix field at 345
                let prefix = cString(header, 345, 155)
                if !prefix.isEmpty { name = prefix + "/" + name }
            }
            start += 512
            switch typeflag {
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                let body = try readSmall(size, what: "PAX header")
                if typeflag == UInt8(ascii: "g") { continue }  // global headers: nothing imc needs
                for (key, value) in try parsePAX(body) {
                    switch key {
                    case "path": paxPath = String(decoding: value, as: UTF8.self)
                    case "linkpath": paxLink = String(decoding: value, as: UTF8.self)
                    case "size": paxSize = Int64(String(decoding: value, as: UTF8.self))
                    case "uid": paxUID = Int(String(decoding: value, as: UTF8.self))
                    case "gid": paxGID = Int(String(decoding: value, as: UTF8.self))
                    case "mtime": paxMtime = Int64(String(decoding: value, as: UTF8.self).split(separator: ".").first ?? "0")
                    default:
                        if key.hasPrefix("SCHILY.xattr.") {
                            guard value.count <= limits.maxXattrSize else {
                                throw UnpackError(
                                    .limitExceeded, "xattr \(key.dropFirst(13)) is \(value.count) bytes, more than \(limits.maxXattrSize)")
                            }
                            xattrs.append((String(key.dropFirst(13)), value))
                        }
                    }
                }
                continue
            case UInt8(ascii: "L"):
                gnuLongName = String(decoding: try readSmall(size, what: "GNU long name").prefix { $0 != 0 }, as: UTF8.self)
                continue
            case UInt8(ascii: "K"):
                gnuLongLink = String(decoding: try readSmall(size, what: "GNU long link").prefix { $0 != 0 }, as: UTF8.self)
                continue
            default:
                break
            }
            let kind: TarEntry.Kind
            switch typeflag {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): kind = .regular
            case UInt8(ascii: "1"): kind = .hardlink
            case UInt8(ascii: "2"): kind = .symlink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default:
                throw UnpackError(
                    .unsupportedEntry,
                    "tar entry \"\(name.prefix(200))\" has type '\(Character(UnicodeScalar(typeflag)))', which imc does not unpack")
            }
            let headerUID = Int(try number(header, 108, 8, "uid"))
            let headerGID = Int(try number(header, 116, 8, "gid"))
            let headerMtime = try number(header, 136, 12, "mtime")
            var entry = TarEntry(
                kind: kind, name: paxPath ?? gnuLongName ?? name,
                linkName: paxLink ?? gnuLongLink ?? cString(header, 157, 100),
                mode: UInt32(truncatingIfNeeded: try number(header, 100, 8, "mode")) & 0o7777,
                uid: paxUID ?? headerUID, gid: paxGID ?? headerGID,
                size: paxSize ?? size, mtime: paxMtime ?? headerMtime,
                devMajor: UInt32(truncatingIfNeeded: try number(header, 329, 8, "devmajor")),
                devMinor: UInt32(truncatingIfNeeded: try number(header, 337, 8, "devminor")), xattrs: xattrs)
            // Old writers mark directories only with a trailing slash on a regular entry.
            if kind == .regular && entry.name.hasSuffix("/") && entry.size == 0 { entry.kind = .directory }
            guard entry.name.utf8.count <= limits.maxNameLength, entry.linkName.utf8.count <= limits.maxNameLength else {
                throw UnpackError(.limitExceeded, "tar entry name or link target is longer than \(limits.maxNameLength) bytes")
            }
            guard entry.size >= 0 else {
                throw UnpackError(.malformedArchive, "tar entry \"\(entry.name.prefix(200))\" has a negative size")
            }
            entryCount += 1
            guard entryCount <= limits.maxEntries else {
                throw UnpackError(.limitExceeded, "layer has more than \(limits.maxEntries) entries")
            }
            let contentSize: Int64 =
                (entry.kind == .regular)
                ? entry.size : (entry.kind == .hardlink || entry.kind == .symlink || entry.kind == .directory ? 0 : entry.size)
            if entry.kind != .regular { entry.size = 0 }
            contentBytes += contentSize
            guard contentBytes <= limits.maxLayerBytes else {
                throw UnpackError(.limitExceeded, "layer unpacks to more than \(limits.maxLayerBytes) bytes")
            }
            remaining = contentSize
            padding = Int((512 - contentSize % 512) % 512)
            return entry
        }
    }

    /// Hands the current entry's content to `body` in pieces, in order, until it is all read.
    public func readContent(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while remaining > 0 {
            if start == end {
                guard try fill(1) else { throw truncated() }
            }
            let k = Int(min(Int64(end - start), remaining))
            try body(UnsafeRawBufferPointer(rebasing: buffer[start..<start + k]))
            start += k
            remaining -= Int64(k)
        }
    }

    private func readSmall(_ size: Int64, what: String) throws -> [UInt8] {
        guard size <= Int64(limits.maxHeaderSize) else {
            throw UnpackError(.limitExceeded, "\(what) is \(size) bytes, more than \(limits.maxHeaderSize)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(Int(size))
        var left = Int(size)
        while left > 0 {
            if start == end {
                guard try fill(1) else { throw truncated() }
            }
            let k = min(end - start, left)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<start + k]))
            start += k
            left -= k
        }
        try skip(Int64((512 - Int(size) % 512) % 512))
        return out
    }

    private func parsePAX(_ body: [UInt8]) throws -> [(String, [UInt8])] {
        var result: [(String, [UInt8])] = []
        var i = 0
        while i < body.count {
            var j = i
            var length = 0
            while j < body.count, body[j] >= 48, body[j] <= 57 {
                length = length * 10 + Int(body[j] - 48)
                guard length <= body.count else { throw UnpackError(.malformedArchive, "PAX record length is out of range") }
                j += 1
            }
            guard j < body.count, body[j] == 32, length > j - i + 1, i + length <= body.count, body[i + length - 1] == 10 else {
                throw UnpackError(.malformedArchive, "PAX header is malformed")
            }
            let record = body[(j + 1)..<(i + length - 1)]
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else {
                throw UnpackError(.malformedArchive, "PAX record has no '='")
            }
            result.append((String(decoding: record[record.startIndex..<eq], as: UTF8.self), Array(record[(eq + 1)...])))
            i += length
        }
        return result
    }

    private func verifyChecksum(_ h: UnsafeRawBufferPointer) throws {
        var unsigned = 0
        var signed = 0
        for i in 0..<512 {
            let b = (148..<156).contains(i) ? UInt8(32) : h[i]
            unsigned += Int(b)
            signed += Int(Int8(bitPattern: b))
        }
        let stored = try number(h, 148, 8, "checksum")
        guard stored == Int64(unsigned) || stored == Int64(signed) else {
            throw UnpackError(.malformedArchive, "tar header checksum mismatch (not a tar stream, or corrupt)")
        }
    }

    /// An octal field (NUL or space terminated), or GNU base-256 when the high bit is set.
    private func number(_ h: UnsafeRawBufferPointer, _ offset: Int, _ length: Int, _ field: String) throws -> Int64 {
        if h[offset] & 0x80 != 0 {
            guard h[offset] == 0x80 else { throw UnpackError(.malformedArchive, "tar \(field) field is a negative base-256 number") }
            var v: Int64 = 0
            for i in 1..<length {
                guard v < (Int64.max >> 8) else { throw UnpackError(.malformedArchive, "tar \(field) field overflows") }
                v = (v << 8) | Int64(h[offset + i])
            }
            return v
        }
        var v: Int64 = 0
        var i = offset
        while i < offset + length && (h[i] == 32 || h[i] == 0) { i += 1 }  // leading blanks
        if i == offset + length { return 0 }
        while i < offset + length, h[i] >= 48, h[i] <= 55 {
            guard v < (Int64.max >> 3) else { throw UnpackError(.malformedArchive, "tar \(field) field overflows") }
            v = v * 8 + Int64(h[i] - 48)
            i += 1
        }
        while i < offset + length {
            guard h[i] == 0 || h[i] == 32 else { throw UnpackError(.malformedArchive, "tar \(field) field is not a number") }
            i += 1
        }
        return v
    }

    private func cString(_ h: UnsafeRawBufferPointer, _ offset: Int, _ length: Int) -> String {
        let slice = UnsafeRawBufferPointer(rebasing: h[offset..<offset + length])
        let n = slice.firstIndex(of: 0) ?? length
        return String(decoding: UnsafeRawBufferPointer(rebasing: slice[0..<n]), as: UTF8.self)
    }

    private func bytesEqual(_ h: UnsafeRawBufferPointer, _ offset: Int, _ s: [UInt8]) -> Bool {
        s.indices.allSatisfy { h[offset + $0] == s[$0] }
    }
}

/// Writes tar archives from code, with everything a layer can hold: files, directories,
/// symlinks, hardlinks, devices, fifos, whiteouts, modes, owners, setuid bits and xattrs.
/// Names are written exactly as given, so tests can also make hostile archives (`../x`, `/abs`).
public struct TarBuilder: Sendable {
    public enum Kind: Sendable, Equatable {
        case file([UInt8])
        case directory
        case symlink(String)
        case hardlink(String)
        case characterDevice(major: UInt32, minor: UInt32)
        case blockDevice(major: UInt32, minor: UInt32)
        case fifo
    }

    public struct Entry: Sendable {
        public var name: String
        public var kind: Kind
        public var mode: UInt32
        public var uid: Int
        public var gid: Int
        public var mtime: Int
        public var xattrs: [(String, [UInt8])]
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    public mutating func add(
        _ name: String, _ kind: Kind, mode: UInt32? = nil, uid: Int = 0, gid: Int = 0, mtime: Int = 1_700_000_000,
        xattrs: [(String, [UInt8])] = []
    ) {
        let defaultMode: UInt32
        switch kind {
        case .directory: defaultMode = 0o755
        case .symlink: defaultMode = 0o777
        default: defaultMode = 0o644
        }
        entries.append(Entry(name: name, kind: kind, mode: mode ?? defaultMode, uid: uid, gid: gid, mtime: mtime, xattrs: xattrs))
    }

    public mutating func file(
        _ name: String, _ text: String, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0, xattrs: [(String, [UInt8])] = []
    ) {
        add(name, .file(Array(text.utf8)), mode: mode, uid: uid, gid: gid, xattrs: xattrs)
    }

    public mutating func directory(_ name: String, mode: UInt32 = 0o755, uid: Int = 0, gid: Int = 0) {
        add(name, .directory, mode: mode, uid: uid, gid: gid)
    }

    public mutating func symlink(_ name: String, to target: String) { add(name, .symlink(target)) }
    public mutating func hardlink(_ name: String, to target: String) { add(name, .hardlink(target)) }

    /// An OCI whiteout hiding `path` of lower layers.
    public mutating func whiteout(_ path: String) {
        let parts = path.split(separator: "/")
        let dir = parts.dropLast().joined(separator: "/")
        add((dir.isEmpty ? "" : dir + "/") + ".wh." + parts.last!, .file([]))
    }

    /// An OCI opaque marker: `dir`'s lower-layer contents are hidden.
    public mutating func opaque(_ dir: String) { add(dir + "/.wh..wh..opq", .file([])) }

    /// The archive: ustar headers, a PAX header where a name, link or xattr needs one, and the
    /// two zero blocks at the end.
    public func build() -> [UInt8] {
        var out: [UInt8] = []
        for e in entries {
            var pax: [(String, [UInt8])] = []
            var name = e.name
            var link = ""
            switch e.kind {
            case .symlink(let t), .hardlink(let t): link = t
            default: break
            }
            if e.kind == .directory && !name.hasSuffix("/") { name += "/" }
            if name.utf8.count > 100 { pax.append(("path", Array(name.utf8))) }
            if link.utf8.count > 100 { pax.append(("linkpath", Array(link.utf8))) }
            if e.uid > 0o7777777 { pax.append(("uid", Array(String(e.uid).utf8))) }
            if e.gid > 0o7777777 { pax.append(("gid", Array(String(e.gid).utf8))) }
            for (k, v) in e.xattrs { pax.append(("SCHILY.xattr." + k, v)) }
            if !pax.isEmpty {
                var body: [UInt8] = []
                for (k, v) in pax { body += Self.paxRecord(k, v) }
                out += header(
                    name: "PaxHeaders/" + String(name.suffix(80)), type: UInt8(ascii: "x"), size: body.count, mode: 0o644, uid: 0, gid: 0,
                    mtime: e.mtime, link: "", devMajor: 0, devMinor: 0)
                out += Self.padded(body)
            }
            var content: [UInt8] = []
            let type: UInt8
            var major: UInt32 = 0
            var minor: UInt32 = 0
            switch e.kind {
            case .file(let bytes):
                type = UInt8(ascii: "0")
                content = bytes
            case .directory: type = UInt8(ascii: "5")
            case .symlink: type = UInt8(ascii: "2")
            case .hardlink: type = UInt8(ascii: "1")
            case .characterDevice(let a, let b):
                type = UInt8(ascii: "3")
                major = a
                minor = b
            case .blockDevice(let a, let b):
                type = UInt8(ascii: "4")
                major = a
                minor = b
            case .fifo: type = UInt8(ascii: "6")
            }
            out += header(
                name: String(decoding: name.utf8.prefix(100), as: UTF8.self), type: type, size: content.count, mode: e.mode,
                uid: min(e.uid, 0o7777777), gid: min(e.gid, 0o7777777), mtime: e.mtime,
                link: String(decoding: link.utf8.prefix(100), as: UTF8.self), devMajor: major, devMinor: minor)
            out += Self.padded(content)
        }
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }

    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let rest = 1 + key.utf8.count + 1 + value.count + 1  // " " key "=" value "\n"
        var length = rest + 1
        while String(length).utf8.count + rest != length { length = String(length).utf8.count + rest }
        return Array("\(length) \(key)=".utf8) + value + [10]
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
    }

    /// One 512-byte ustar header.
    public func header(
        name: String, type: UInt8, size: Int, mode: UInt32, uid: Int, gid: Int, mtime: Int, link: String, devMajor: UInt32, devMinor: UInt32
    ) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ offset: Int, _ length: Int) {
            for (i, b) in s.utf8.prefix(length).enumerated() { h[offset + i] = b }
        }
        func octal(_ v: Int, _ offset: Int, _ length: Int) {
            put(String(String(v, radix: 8).suffix(length - 1)).leftPadded(to: length - 1), offset, length - 1)
        }
        put(name, 0, 100)
        octal(Int(mode), 100, 8)
        octal(uid, 108, 8)
        octal(gid, 116, 8)
        octal(size, 124, 12)
        octal(mtime, 136, 12)
        h[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        octal(Int(devMajor), 329, 8)
        octal(Int(devMinor), 337, 8)
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(String(sum, radix: 8)).leftPadded(to: 6), 148, 6)
        h[154] = 0
        h[155] = 32
        return h
    }
}

extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

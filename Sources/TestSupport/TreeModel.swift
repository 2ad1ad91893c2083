import CIMCSys
import Foundation
import IMCModel

import struct Crypto.SHA256

/// A file tree as a map from path to what is there, built either from an image's layers (what
/// the merged root filesystem must be) or by scanning a real directory, so that the two can be
/// compared file by file: kind, content, mode (with setuid bits), owner, link target, xattrs.
public enum TreeModel {
    public struct Node: Equatable, Sendable, CustomStringConvertible {
        public var kind: String
        public var mode: UInt32
        public var uid: Int
        public var gid: Int
        public var content: String
        public var xattrs: [String: [UInt8]]

        public var description: String {
            "\(kind) mode=\(String(mode, radix: 8)) owner=\(uid):\(gid) \(content) xattrs=\(xattrs.keys.sorted())"
        }
    }

    /// What stacking `layers` (bottom first) must give, following the OCI layer rules.
    public static func merged(_ layers: [TarBuilder]) -> [String: Node] {
        var tree: [String: Node] = [:]
        for layer in layers {
            var own: Set<String> = []
            for e in layer.entries {
                let path = clean(e.name)
                let base = path.split(separator: "/").last.map(String.init) ?? ""
                let dir = path.split(separator: "/").dropLast().joined(separator: "/")
                if base == ".wh..wh..opq" {
                    let prefix = dir.isEmpty ? "" : dir + "/"
                    for k in tree.keys where k.hasPrefix(prefix) && !own.contains(k) && k != dir { tree[k] = nil }
                    continue
                }
                if base.hasPrefix(".wh.") {
                    let target = (dir.isEmpty ? "" : dir + "/") + base.dropFirst(4)
                    if !own.contains(target) {
                        for k in tree.keys where k == target || k.hasPrefix(target + "/") { tree[k] = nil }
                    }
                    continue
                }
                own.insert(path)
                // Implicit parents.
                var p = ""
                for part in path.split(separator: "/").dropLast() {
                    p = p.isEmpty ? String(part) : p + "/" + part
                    if tree[p] == nil {
                        tree[p] = Node(kind: "dir", mode: 0o755, uid: 0, gid: 0, content: "", xattrs: [:])
                        own.insert(p)
                    }
                }
                // Replacing a directory with a non-directory drops its children.
                if case .directory = e.kind {
                } else {
                    for k in tree.keys where k.hasPrefix(path + "/") { tree[k] = nil }
                }
                tree[path] = node(e, tree: tree)
            }
        }
        return tree
    }

    static func node(_ e: TarBuilder.Entry, tree: [String: Node]) -> Node {
        let xattrs = Dictionary(
            e.xattrs.filter { ($0.0.hasPrefix("user.") && !$0.0.hasPrefix("user.overlay.")) || $0.0 == "security.capability" },
            uniquingKeysWith: { $1 })
        switch e.kind {
        case .file(let bytes): return Node(kind: "file", mode: e.mode, uid: e.uid, gid: e.gid, content: hash(bytes), xattrs: xattrs)
        case .directory: return Node(kind: "dir", mode: e.mode, uid: e.uid, gid: e.gid, content: "", xattrs: xattrs)
        case .symlink(let t): return Node(kind: "symlink", mode: 0o777, uid: e.uid, gid: e.gid, content: t, xattrs: [:])
        case .hardlink(let t):
            var n = tree[clean(t)] ?? Node(kind: "missing", mode: 0, uid: 0, gid: 0, content: "", xattrs: [:])
            n.kind = n.kind == "file" ? "file" : n.kind
            return n
        case .characterDevice(let a, let b):
            return Node(kind: "char", mode: e.mode, uid: e.uid, gid: e.gid, content: "\(a):\(b)", xattrs: [:])
        case .blockDevice(let a, let b): return Node(kind: "block", mode: e.mode, uid: e.uid, gid: e.gid, content: "\(a):\(b)", xattrs: [:])
        case .fifo: return Node(kind: "fifo", mode: e.mode, uid: e.uid, gid: e.gid, content: "", xattrs: [:])
        }
    }

    static func clean(_ name: String) -> String {
        name.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    static func hash(_ bytes: [UInt8]) -> String { "sha256:" + TestImage.digest(bytes).short }

    /// What is really under `root` (the root itself excluded).
    public static func scan(_ root: String) throws -> [String: Node] {
        var out: [String: Node] = [:]
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: root) else { throw TestSupportError("cannot walk \(root)") }
        while let rel = walker.nextObject() as? String {
            let full = root + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0 else { throw TestSupportError("lstat \(full)") }
            let type = st.st_mode & S_IFMT
            let perm = UInt32(st.st_mode & 0o7777)
            var node = Node(kind: "", mode: perm, uid: Int(st.st_uid), gid: Int(st.st_gid), content: "", xattrs: xattrs(full))
            switch type {
            case S_IFREG:
                node.kind = "file"
                node.content = hash(Array(fm.contents(atPath: full) ?? Data()))
            case S_IFDIR: node.kind = "dir"
            case S_IFLNK:
                node.kind = "symlink"
                node.mode = 0o777
                node.content = (try? fm.destinationOfSymbolicLink(atPath: full)) ?? ""
            case S_IFCHR:
                node.kind = "char"
                node.content = "\(major(st.st_rdev)):\(minor(st.st_rdev))"
            case S_IFBLK:
                node.kind = "block"
                node.content = "\(major(st.st_rdev)):\(minor(st.st_rdev))"
            case S_IFIFO: node.kind = "fifo"
            default: node.kind = "other"
            }
            out[rel] = node
        }
        return out
    }

    static func major(_ dev: UInt) -> UInt32 { UInt32((dev >> 8) & 0xfff) | UInt32((dev >> 32) & ~0xfff) }
    static func minor(_ dev: UInt) -> UInt32 { UInt32(dev & 0xff) | UInt32((dev >> 12) & ~0xff) }

    /// The xattrs imc may set from an image (`user.*`, `security.capability`).
    public static func xattrs(_ path: String) -> [String: [UInt8]] {
        var names = [CChar](repeating: 0, count: 4096)
        let n = imc_llistxattr(path, &names, names.count)
        guard n > 0 else { return [:] }
        var out: [String: [UInt8]] = [:]
        for raw in names[0..<n].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // The image's own: overlayfs's markers (`user.overlay.*`, `trusted.*`) are the unpacker's.
            guard (name.hasPrefix("user.") && !name.hasPrefix("user.overlay.")) || name == "security.capability" else { continue }
            var value = [UInt8](repeating: 0, count: 65536)
            let m = imc_lgetxattr(path, name, &value, value.count)
            if m >= 0 { out[name] = Array(value[0..<m]) }
        }
        return out
    }

    /// Differences between `expected` and `actual`, one line each; empty when they match.
    public static func differences(expected: [String: Node], actual: [String: Node]) -> [String] {
        var lines: [String] = []
        for key in Set(expected.keys).union(actual.keys).sorted() {
            switch (expected[key], actual[key]) {
            case (let e?, let a?) where e != a: lines.append("\(key): expected \(e), found \(a)")
            case (_?, nil): lines.append("\(key): missing")
            case (nil, let a?): lines.append("\(key): unexpected \(a)")
            default: break
            }
        }
        return lines
    }
}

/// An overlay mount of layer directories (top first is last in `layers`), with a scratch
/// upper layer, for tests that need to see the merged tree.
public final class OverlayMount {
    public let target: String
    private let scratch: TemporaryDirectory

    /// Mounts `layers` (bottom first) at a new directory.
    public init(layers: [String]) throws {
        scratch = try TemporaryDirectory(prefix: "imc-overlay")
        target = scratch.appending("merged")
        for d in ["merged", "upper", "work"] {
            try FileManager.default.createDirectory(atPath: scratch.appending(d), withIntermediateDirectories: true)
        }
        let options =
            "lowerdir=\(layers.reversed().joined(separator: ":")),upperdir=\(scratch.appending("upper")),workdir=\(scratch.appending("work"))"
        guard mount("overlay", target, "overlay", 0, options) == 0 else {
            throw TestSupportError("mount overlay failed: \(String(cString: strerror(errno)))")
        }
    }

    deinit { umount2(target, Int32(MNT_DETACH)) }
}

extension TreeModel {
    /// Any xattr of `path` (not following a symlink), `trusted.*` included; nil when absent.
    public static func xattr(_ path: String, _ name: String) -> [UInt8]? {
        var value = [UInt8](repeating: 0, count: 65536)
        let n = imc_lgetxattr(path, name, &value, value.count)
        return n >= 0 ? Array(value[0..<n]) : nil
    }
}

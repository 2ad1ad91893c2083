import Foundation
import IMCCompression
import IMCTestSupport
import IMCUnpack
import Testing

/// RELIABILITY.md "Unpacking": hostile archives, each applied next to sentinel files outside the
/// layer root that must stay exactly as they were.
@Suite(.enabled(if: Requirements.isRoot, "needs root (chown, mknod, trusted xattrs)"))
final class UnpackSafetyTests {
    let work: TemporaryDirectory
    let root: String
    /// A directory outside the root, with a file, whose state is checked after every test.
    let sentinel: String

    init() throws {
        work = try TemporaryDirectory(prefix: "imc-unpack")
        root = work.appending("root")
        sentinel = work.appending("sentinel")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sentinel, withIntermediateDirectories: true)
        try "sentinel".write(toFile: sentinel + "/file", atomically: false, encoding: .utf8)
    }

    deinit {
        // Every test leaves the sentinel exactly as it was.
        let listing = (try? FileManager.default.contentsOfDirectory(atPath: sentinel)) ?? []
        #expect(listing == ["file"], "sentinel directory changed: \(listing)")
        #expect((try? String(contentsOfFile: sentinel + "/file", encoding: .utf8)) == "sentinel")
        var st = stat()
        #expect(stat(sentinel + "/file", &st) == 0 && st.st_nlink == 1, "sentinel file gained a hardlink")
    }

    @discardableResult
    func extract(_ tar: TarBuilder, limits: UnpackLimits = UnpackLimits()) throws -> LayerExtractor.Stats {
        try extract(bytes: tar.build(), limits: limits)
    }

    @discardableResult
    func extract(bytes: [UInt8], limits: UnpackLimits = UnpackLimits()) throws -> LayerExtractor.Stats {
        let extractor = try LayerExtractor(root: root, limits: limits)
        try extractor.apply(TarReader(MemorySource(bytes), limits: limits))
        return extractor.stats
    }

    func expectFailure(_ code: UnpackError.Code, _ tar: TarBuilder, limits: UnpackLimits = UnpackLimits()) {
        do {
            try extract(tar, limits: limits)
            Issue.record("the layer was accepted")
        } catch let e as UnpackError {
            #expect(e.code == code, "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// The sentinel's path relative to `/`, for names that aim at it.
    var sentinelRelative: String { String(sentinel.dropFirst()) }

    @Test func dotDotNamesFailTheLayer() {
        var t = TarBuilder()
        t.file("ok", "fine")
        t.file("../sentinel/file", "overwritten")
        expectFailure(.pathEscape, t)
        var deeper = TarBuilder()
        deeper.file("a/b/../../../sentinel/new", "x")
        expectFailure(.pathEscape, deeper)
    }

    @Test func dotDotInsideTheRootIsFine() throws {
        var t = TarBuilder()
        t.file("a/../b", "inside")
        try extract(t)
        #expect(FileManager.default.fileExists(atPath: root + "/b"))
    }

    @Test func absoluteNamesStayInsideTheRoot() throws {
        var t = TarBuilder()
        t.file(sentinel + "/file", "overwritten")
        try extract(t)
        #expect(try String(contentsOfFile: root + sentinel + "/file", encoding: .utf8) == "overwritten")
    }

    @Test func symlinkParentsAreResolvedInsideTheRoot() throws {
        var t = TarBuilder()
        t.symlink("evil", to: sentinel)
        t.file("evil/file", "overwritten")
        t.file("evil/new", "new")
        try extract(t)
        #expect(try String(contentsOfFile: root + sentinel + "/file", encoding: .utf8) == "overwritten")
    }

    @Test func relativeSymlinkChainsCannotClimbOut() throws {
        var t = TarBuilder()
        t.symlink("a", to: "b")
        t.symlink("b", to: "../../../../../../../../" + sentinelRelative)
        t.file("a/file", "overwritten")
        try extract(t)
        #expect(try String(contentsOfFile: root + sentinel + "/file", encoding: .utf8) == "overwritten")
    }

    @Test func hardlinksToOutsidePathsFail() {
        var t = TarBuilder()
        t.hardlink("h", to: "../sentinel/file")
        expectFailure(.pathEscape, t)
        var absolute = TarBuilder()
        absolute.hardlink("h", to: sentinel + "/file")
        expectFailure(.badHardlink, absolute)
    }

    @Test func hardlinksThroughSymlinkedParentsStayInside() {
        var t = TarBuilder()
        t.symlink("l", to: sentinel)
        t.hardlink("h", to: "l/file")
        expectFailure(.badHardlink, t)
    }

    @Test func aLayerCannotReplaceTheRootWithASymlink() {
        var t = TarBuilder()
        t.add("./", .symlink(sentinel))
        t.file("file", "x")
        expectFailure(.pathEscape, t)
    }

    @Test func aDirectoryTurnedIntoASymlinkIsNotWrittenThroughByTheNextLayer() throws {
        var first = TarBuilder()
        first.symlink("etc", to: sentinel)
        try extract(first)
        // The next layer is applied to its own directory, where etc is whatever that layer says.
        let second = work.appending("second")
        try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
        var t = TarBuilder()
        t.file("etc/file", "overwritten")
        let extractor = try LayerExtractor(root: second)
        try extractor.apply(TarReader(MemorySource(t.build())))
        #expect(try String(contentsOfFile: second + "/etc/file", encoding: .utf8) == "overwritten")
    }

    @Test func whiteoutsThatPointOutsideFail() {
        var t = TarBuilder()
        t.add("../.wh.sentinel", .file([]))
        expectFailure(.pathEscape, t)
    }

    @Test func whiteoutsThroughSymlinksStayInside() throws {
        var t = TarBuilder()
        t.symlink("link", to: sentinel)
        t.whiteout("link/file")
        try extract(t)
        var st = stat()
        #expect(lstat(root + sentinel + "/file", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR)
    }

    @Test(arguments: [".wh.", ".wh..", "dir/.wh."])
    func malformedWhiteoutsFail(name: String) {
        var t = TarBuilder()
        t.add(name, .file([]))
        expectFailure(.malformedWhiteout, t)
    }

    @Test func whiteoutsBecomeOverlayWhiteoutsAndOpaqueDirectories() throws {
        var t = TarBuilder()
        t.whiteout("gone")
        t.opaque("dir")
        t.file("dir/kept", "k")
        let stats = try extract(t)
        var st = stat()
        #expect(lstat(root + "/gone", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0 && st.st_uid == 0)
        #expect(TreeModel.xattrs(root + "/dir").isEmpty, "user-visible xattrs are untouched")
        #expect(TreeModel.xattr(root + "/dir", "trusted.overlay.opaque") == Array("y".utf8))
        #expect(TreeModel.xattr(root + "/dir", "user.overlay.opaque") == Array("y".utf8), "the marker a user namespace can write too")
        #expect(stats.whiteouts == 2)
        #expect(!FileManager.default.fileExists(atPath: root + "/.wh.gone"))
    }

    @Test func aWhiteoutNeverHidesItsOwnLayersFiles() throws {
        var t = TarBuilder()
        t.file("a", "mine")
        t.whiteout("a")
        try extract(t)
        #expect(try String(contentsOfFile: root + "/a", encoding: .utf8) == "mine")
    }

    @Test func onlyAllowedXattrsAreApplied() throws {
        var t = TarBuilder()
        t.file(
            "f", "x",
            xattrs: [
                ("trusted.overlay.opaque", Array("y".utf8)), ("user.overlay.redirect", Array("/".utf8)),
                ("security.selinux", Array("x".utf8)), ("user.ok", Array("1".utf8)),
            ])
        let stats = try extract(t)
        #expect(TreeModel.xattrs(root + "/f") == ["user.ok": Array("1".utf8)])
        #expect(TreeModel.xattr(root + "/f", "trusted.overlay.opaque") == nil)
        #expect(stats.ignoredXattrs == 3)
    }

    @Test func devicesAndSetuidBitsStayInsideTheLayer() throws {
        var t = TarBuilder()
        t.add("dev/sda", .blockDevice(major: 8, minor: 0), mode: 0o660)
        t.file("bin/su", "su", mode: 0o4755, uid: 0)
        try extract(t)
        var st = stat()
        #expect(stat(root + "/bin/su", &st) == 0 && st.st_mode & 0o7777 == 0o4755)
        #expect(lstat(root + "/dev/sda", &st) == 0 && (st.st_mode & S_IFMT) == S_IFBLK)
    }

    @Test func bombsHitTheirCaps() {
        var bytes = TarBuilder()
        bytes.file("big", String(repeating: "x", count: 5000))
        var small = UnpackLimits()
        small.maxLayerBytes = 4096
        expectFailure(.limitExceeded, bytes, limits: small)

        var many = TarBuilder()
        for i in 0..<20 { many.file("f\(i)", "") }
        var few = UnpackLimits()
        few.maxEntries = 10
        expectFailure(.limitExceeded, many, limits: few)

        var long = TarBuilder()
        long.file(String(repeating: "n/", count: 100) + "x", "")
        var short = UnpackLimits()
        short.maxNameLength = 64
        expectFailure(.limitExceeded, long, limits: short)

        var header = TarBuilder()
        header.file("f", "", xattrs: [("user.big", [UInt8](repeating: 1, count: 3000))])
        var tiny = UnpackLimits()
        tiny.maxHeaderSize = 1024
        expectFailure(.limitExceeded, header, limits: tiny)
    }

    @Test func corruptArchivesFail() throws {
        var t = TarBuilder()
        t.file("a", "content")
        var bytes = t.build()
        bytes[10] ^= 0xff  // header checksum no longer matches
        #expect(throws: UnpackError.self) { try self.extract(bytes: bytes) }
        let truncated = Array(t.build().prefix(600))
        #expect(throws: UnpackError.self) { try self.extract(bytes: truncated) }
    }

    @Test func replacingEntriesFollowsTarSemantics() throws {
        var t = TarBuilder()
        t.file("x/inner", "i")
        t.file("x", "now a file")
        t.symlink("y", to: "target")
        t.file("y", "file over symlink")
        t.directory("z")
        t.directory("z", mode: 0o700)
        try extract(t)
        #expect(try String(contentsOfFile: root + "/x", encoding: .utf8) == "now a file")
        #expect(try String(contentsOfFile: root + "/y", encoding: .utf8) == "file over symlink")
        var st = stat()
        #expect(stat(root + "/z", &st) == 0 && st.st_mode & 0o777 == 0o700)
    }
}

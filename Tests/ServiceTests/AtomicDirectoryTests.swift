import Foundation
import IMCInstance
import IMCTestSupport
import Testing

@testable import IMCInstances

/// File volumes as the kubelet's atomic writer writes them: bytes kept exactly, a rewrite only
/// when something changed, and a change seen whole through `..data`.
struct AtomicDirectoryTests {
    @Test func filesAreWrittenExactlyAndReplacedWholeWhenTheyChange() throws {
        let dir = try TemporaryDirectory(prefix: "imc-atomic-dir")
        let volume = dir.appending("conf")
        let binary: [UInt8] = [0, 255, 10, 13, 0x80]
        let first = [
            VolumeFiles.File(path: "a.txt", data: Array("one".utf8), mode: 0o644),
            VolumeFiles.File(path: "key.bin", data: binary, mode: 0o400),
            VolumeFiles.File(path: "sub/deep", data: Array("d".utf8), mode: 0o440),
        ]
        #expect(try AtomicDirectory.write(first, to: volume, owner: 0))
        #expect(try Data(contentsOf: URL(fileURLWithPath: volume + "/key.bin")) == Data(binary), "a secret's bytes, not text")
        #expect(try String(contentsOfFile: volume + "/sub/deep", encoding: .utf8) == "d")
        var st = stat()
        stat(volume + "/key.bin", &st)
        #expect(st.st_mode & 0o777 == 0o400)
        let data = try FileManager.default.destinationOfSymbolicLink(atPath: volume + "/..data")
        #expect(try !AtomicDirectory.write(first, to: volume, owner: 0), "the same files are not written again")
        let second = [VolumeFiles.File(path: "a.txt", data: Array("two".utf8), mode: 0o644)]
        #expect(try AtomicDirectory.write(second, to: volume, owner: 0))
        #expect(try String(contentsOfFile: volume + "/a.txt", encoding: .utf8) == "two")
        let entries = try FileManager.default.contentsOfDirectory(atPath: volume).sorted()
        #expect(entries.filter { !$0.hasPrefix("..") } == ["a.txt"], "names gone from the object are gone: \(entries)")
        #expect(!entries.contains(data), "the old directory is removed")
    }
}

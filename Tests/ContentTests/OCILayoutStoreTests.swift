import Foundation
import IMCContent
import IMCModel
import IMCTestSupport
import Testing

struct OCILayoutStoreTests {
    func descriptor(_ bytes: [UInt8]) -> Descriptor {
        Descriptor(mediaType: "application/octet-stream", digest: TestImage.digest(bytes), size: Int64(bytes.count))
    }

    @Test func commitsOnlyWhatMatches() throws {
        let dir = try TemporaryDirectory()
        let store = try OCILayoutStore(root: dir.path)
        let bytes = Array("hello, blob".utf8)
        let d = descriptor(bytes)
        let w = try store.writer(for: d)
        try bytes.withUnsafeBytes { try w.write($0) }
        #expect(!store.contains(d.digest), "nothing under the final name before commit")
        try w.commit()
        #expect(store.contains(d.digest))
        #expect(try store.read(d.digest, maxSize: 100) == Data(bytes))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appending("ingest")).isEmpty)
    }

    @Test func refusesAByteBeyondTheDeclaredSize() throws {
        let dir = try TemporaryDirectory()
        let store = try OCILayoutStore(root: dir.path)
        let bytes = Array("12345".utf8)
        var d = descriptor(bytes)
        d.size = 4
        let w = try store.writer(for: d)
        #expect(throws: ContentError.self) { try bytes.withUnsafeBytes { try w.write($0) } }
        w.abort()
        #expect(!store.contains(d.digest))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appending("ingest")).isEmpty)
    }

    @Test func refusesAWrongDigestOrShortBlob() throws {
        let dir = try TemporaryDirectory()
        let store = try OCILayoutStore(root: dir.path)
        let d = descriptor(Array("expected".utf8))
        let w = try store.writer(for: d)
        try Array("EXPECTED".utf8).withUnsafeBytes { try w.write($0) }
        do {
            try w.commit()
            Issue.record("a wrong digest was committed")
        } catch {
            #expect(error.code == .digestMismatch)
        }
        let short = try store.writer(for: d)
        try Array("exp".utf8).withUnsafeBytes { try short.write($0) }
        #expect(throws: ContentError.self) { try short.commit() }
        #expect(!store.contains(d.digest))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appending("ingest")).isEmpty)
    }

    @Test func partialDownloadsAreRemovedOnOpen() throws {
        let dir = try TemporaryDirectory()
        _ = try OCILayoutStore(root: dir.path)
        try "partial".write(toFile: dir.appending("ingest/abc.123"), atomically: false, encoding: .utf8)
        _ = try OCILayoutStore(root: dir.path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appending("ingest")).isEmpty)
    }

    @Test func tagsAreReplacedNotDuplicated() throws {
        let dir = try TemporaryDirectory()
        let store = try OCILayoutStore(root: dir.path)
        let a = descriptor(Array("a".utf8))
        let b = descriptor(Array("b".utf8))
        try store.tag("r/x:1", a)
        try store.tag("r/x:1", b)
        try store.tag("r/x:2", a)
        #expect(try store.resolve("r/x:1")?.digest == b.digest)
        let index = try JSONDecoder().decode(ImageIndex.self, from: Data(contentsOf: URL(fileURLWithPath: dir.appending("index.json"))))
        #expect(index.manifests.count == 2)
        #expect(try String(contentsOfFile: dir.appending("oci-layout"), encoding: .utf8).contains("1.0.0"))
    }
}

import Foundation
import IMCOS
import IMCTestSupport
import Synchronization
import Testing

struct CommandTests {
    @Test func aFailingCommandIsAnErrorNamingItsStatusAndWhatItSaid() async throws {
        do {
            try await Command.check(["/bin/sh", "-c", "echo the reason >&2; exit 3"])
            Issue.record("a failing command did not throw")
        } catch {
            #expect(error.code == .command)
            #expect(error.message.contains("/bin/sh"))
            #expect(error.message.contains("(3)"))
            #expect(error.message.contains("the reason"))
        }
    }

    @Test func outputIsCapturedWhenAskedAndTheEnvironmentIsOnlyWhatIsGiven() async throws {
        setenv("IMC_TEST_SECRET", "must-not-leak", 1)
        let r = try await Command.check(
            ["/bin/sh", "-c", "echo $IMC_TEST_SECRET; echo $PATH; echo $GIVEN"], environment: ["GIVEN": "yes"], captureOutput: true)
        #expect(r.output == "\n\(Command.path)\nyes\n")
    }

    @Test func aMissingProgramIsAnError() async {
        await #expect(throws: OSError.self) { try await Command.run(["/no/such/program"]) }
    }

    @Test func aSignalEndsWithOneHundredTwentyEightPlusIt() async throws {
        let r = try await Command.run(["/bin/sh", "-c", "kill -9 $$"])
        #expect(r.status == 137)
    }
}

struct ChildProcessTests {
    @Test func aChildsOutputGoesToItsFileAndItsExitCodeIsKept() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-child")
        let log = dir.appending("out.log")
        let child = try await ChildProcess.start(["/bin/sh", "-c", "echo out; echo err >&2; exit 7"], outputFile: log)
        #expect(child.pid > 0)
        #expect(await child.exit() == 7)
        #expect(child.exitStatus == 7)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "out\nerr\n")
    }

    @Test func aSignalledChildReportsTheSignal() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-child")
        let child = try await ChildProcess.start(["/bin/sleep", "30"], outputFile: dir.appending("log"))
        #expect(child.exitStatus == nil)
        child.signal(SIGKILL)
        #expect(await child.exit() == 137)
    }

    @Test func aChildThatCannotStartIsAnError() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-child")
        await #expect(throws: OSError.self) { try await ChildProcess.start(["/no/such/program"], outputFile: dir.appending("log")) }
    }
}

/// Children's pipes, read by the one epoll thread: many at once, each writer hanging up while
/// its output is still in flight (what crashed libdispatch's read sources), nothing lost and
/// nothing left watched.
@Suite(.serialized) struct PipeReaderTests {
    @Test func manyChildrensOutputIsKeptWholeAndRotatedAndNoPipeIsLeftWatched() async throws {
        let dir = try TemporaryDirectory(prefix: "imc-pipes")
        let before = PipeReader.shared.watching
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<120 {
                group.addTask {
                    let writer = LogWriter(path: dir.appending("c\(n).log"), maxBytes: 4096, files: 3)
                    let fd = try writer.pipe()
                    // 6,000 bytes: one rotation, and the child ends while the reader may still read.
                    let child = try await ChildProcess.start(
                        ["/bin/sh", "-c", "head -c 6000 /dev/zero | tr '\\0' x; exit \(n % 3)"], output: fd)
                    #expect(await child.exit() == Int32(n % 3))
                    await writer.finished()
                    let current = try Data(contentsOf: URL(fileURLWithPath: writer.path))
                    let older = try Data(contentsOf: URL(fileURLWithPath: writer.path + ".1"))
                    // Records are never cut between files; together they hold every byte.
                    #expect(older.count <= 4096 && current.count <= 4096 && !older.isEmpty)
                    #expect(older.last == 0x0A && current.last == 0x0A)
                    let text = LogRecords.text(older + current)
                    #expect(text.utf8.count == 6000 && Set(text.utf8) == [UInt8(ascii: "x")])
                }
            }
            try await group.waitForAll()
        }
        #expect(PipeReader.shared.watching == before)
    }

    @Test func linesComeAsTheyAreWrittenLongOnesCutAndTheLastWithoutANewline() async throws {
        let (fd, lines) = try LineReader.pipe(maxLine: 8)
        let child = try await ChildProcess.start(["/bin/sh", "-c", "echo one; echo 0123456789abc; printf last"], output: fd)
        var seen: [String] = []
        for await line in lines { seen.append(line) }
        #expect(await child.exit() == 0)
        #expect(seen == ["one", "01234567", "last"])
    }
}

struct AtomicFileTests {
    @Test func aFileIsReplacedWholeAndNoTemporaryFileIsLeft() throws {
        let dir = try TemporaryDirectory(prefix: "imc-atomic")
        let path = dir.appending("f")
        try AtomicFile.write("one", to: path, mode: 0o600)
        try AtomicFile.write("two", to: path, mode: 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["f"])
        var st = stat()
        stat(path, &st)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    @Test func aWriteThatCannotHappenLeavesNothing() throws {
        let dir = try TemporaryDirectory(prefix: "imc-atomic")
        #expect(throws: OSError.self) { try AtomicFile.write("x", to: dir.appending("missing/f")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

final class Arrivals: Sendable {
    let count = Mutex(0)
}

struct BlockingPoolTests {
    /// Jobs that wait for one another must each get a thread: the pool grows instead of
    /// queueing the job the others wait for.
    @Test func jobsThatWaitForEachOtherAllFinish() async throws {
        let pool = BlockingPool(maximumThreads: 64, idleTimeout: 1)
        let arrived = Arrivals()
        let count = 20
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await pool.run {
                        arrived.count.withLock { $0 += 1 }
                        let deadline = Date().addingTimeInterval(20)
                        while arrived.count.withLock({ $0 }) < count {
                            guard Date() < deadline else { throw OSError(.io, "a job never got a thread") }
                            usleep(1000)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(pool.threadCount <= 64)
    }

    @Test func errorsComeBackToTheCaller() async {
        await #expect(throws: OSError.self) { try await BlockingPool.shared.run { throw OSError(.io, "x") } }
    }
}

@Suite(.enabled(if: Requirements.isRoot, "needs root"))
struct MountTableTests {
    /// Foundation reads only the first page of a /proc file; the mount table must be read whole.
    @Test func everyMountIsSeenEvenWhenTheTableIsLong() throws {
        let dir = try TemporaryDirectory(prefix: "imc-mounts")
        let targets = (0..<60).map { dir.appending("a-rather-long-directory-name-so-that-lines-are-long-\($0)") }
        defer { for t in targets { _ = try? CommandRunner.capture("/usr/bin/umount", [t]) } }
        for t in targets {
            try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true)
            #expect(try CommandRunner.capture("/usr/bin/mount", ["-t", "tmpfs", "none", t]).status == 0)
        }
        #expect(Set(MountTable.targets(under: dir.path)) == Set(targets))
        #expect(MountTable.isMountPoint(targets.last!))
    }

    @Test func aMountValueMountsAndUnmountAllRemovesWhatIsUnder() throws {
        let dir = try TemporaryDirectory(prefix: "imc-mounts")
        let a = dir.appending("a")
        let b = dir.appending("a/b")
        try FileManager.default.createDirectory(atPath: a, withIntermediateDirectories: true)
        try Mount(type: "tmpfs", source: "none", target: a, flags: [.noSetUID, .noDevices]).mount()
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: true)
        try Mount(type: "tmpfs", source: "none", target: b).mount()
        #expect(MountTable.targets(under: dir.path).count == 2)
        Mount.unmountAll(under: dir.path)
        #expect(MountTable.targets(under: dir.path).isEmpty)
        try Mount.unmount(a)  // not mounted: fine
    }
}

/// The log's records: lines and pieces of lines, each with when it was written.
struct LogRecordsTests {
    static func records(_ chunks: [(String, Int)], maxText: Int = 1000) -> Data {
        var data = Data()
        for (text, second) in chunks {
            let bytes = Array(text.utf8)
            let made = bytes.withUnsafeBytes {
                LogRecords.records(of: $0, stamp: LogRecords.stamp(seconds: 1_700_000_000 + second, nanoseconds: 5), maxText: maxText)
            }
            data += made.bytes
            #expect((made.ends.last ?? 0) == made.bytes.count)
        }
        return data
    }

    @Test func textComesBackByteForByteWithPiecesJoined() {
        let data = Self.records([("one\ntw", 0), ("o\n", 1), ("", 2), ("no newline", 3)])
        #expect(LogRecords.text(data) == "one\ntwo\nno newline")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines[0] == "2023-11-14T22:13:20.000000005Z stdout F one")
        #expect(lines[1].hasSuffix(" stdout P tw") && lines[2].hasSuffix(" stdout F o"))
    }

    @Test func sinceChoosesWholeLinesByWhenTheyBegan() {
        let data = Self.records([("a\nb", 0), ("c\n", 10), ("d\n", 20)])
        let since = Date(timeIntervalSince1970: 1_700_000_005)
        // "bc" began before the time, though its end came after: it is left out whole.
        #expect(LogRecords.text(data, selection: LogRecords.Selection(since: since)) == "d\n")
        #expect(LogRecords.text(data, selection: LogRecords.Selection(since: Date(timeIntervalSince1970: 1_600_000_000))) == "a\nbc\nd\n")
    }

    @Test func timestampsPrefixEachLineOnce() {
        let data = Self.records([("a\nb", 0), ("c\n", 10)])
        #expect(
            LogRecords.text(data, selection: LogRecords.Selection(timestamps: true))
                == "2023-11-14T22:13:20.000000005Z a\n2023-11-14T22:13:20.000000005Z bc\n")
    }

    @Test func aLongLineIsCutIntoPiecesAndAWindowsFirstLineIsDropped() {
        let data = Self.records([(String(repeating: "x", count: 25) + "\nend\n", 0)], maxText: 10)
        #expect(String(decoding: data, as: UTF8.self).split(separator: "\n").count == 4)
        #expect(LogRecords.text(data) == String(repeating: "x", count: 25) + "\nend\n")
        #expect(LogRecords.text(data.dropFirst(3), cut: true) == "xxxxxxxxxxxxxxx\nend\n", "the cut record goes, the pieces after it stay")
    }

    @Test func aLineThatIsNotARecordIsText() {
        #expect(LogRecords.text(Data("runc: exec failed\n".utf8)) == "runc: exec failed\n")
    }

    @Test func theRunBeforeARestartIsKeptAsPrevious() throws {
        let dir = try TemporaryDirectory(prefix: "imc-previous")
        let path = dir.appending("c.log")
        try Data("first".utf8).write(to: URL(fileURLWithPath: path))
        try Data("older".utf8).write(to: URL(fileURLWithPath: path + ".1"))
        try Data("oldest".utf8).write(to: URL(fileURLWithPath: path + ".2"))
        LogWriter.keepAsPrevious(path, files: 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["c.previous.log", "c.previous.log.1"])
        #expect(try String(contentsOfFile: dir.appending("c.previous.log"), encoding: .utf8) == "first")
    }
}

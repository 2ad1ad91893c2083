import CIMCSys
import Foundation
import Synchronization

/// A container's output, read from a pipe and kept as records (`LogRecords`, the CRI's format)
/// in files of at most `maxBytes` each, the
/// newest `files` of them (`NAME.log`, then `NAME.log.1` ... the oldest), as the kubelet rotates
/// container logs: a container that writes without end fills its own share and nothing more.
/// The pipe is read by the process's `PipeReader` (no thread of its own).
public final class LogWriter: Sendable {
    public let path: String
    public let maxBytes: Int64
    public let files: Int
    private let state: Mutex<State>

    struct State {
        var fd: Int32 = -1
        var size: Int64 = 0
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    public init(path: String, maxBytes: Int64 = 10 << 20, files: Int = 5) {
        self.path = path
        self.maxBytes = max(4096, maxBytes)
        self.files = max(1, files)
        state = Mutex(State())
    }

    /// A pipe whose write end goes to the child; its read end is read from here on. Returns the
    /// write end (the caller hands it to the child and closes it).
    public func pipe() throws(OSError) -> Int32 {
        var ends: [Int32] = [0, 0]
        guard imc_pipe_cloexec(&ends) == 0 else { throw .system("cannot make a pipe for \(path)") }
        do { try openFile() } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        do {
            try PipeReader.shared.watch(ends[0], onData: { [self] in append($0) }, onEnd: { [self] in ended() })
        } catch {
            close(ends[1])
            ended()
            throw error
        }
        return ends[1]
    }

    private func ended() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if s.fd >= 0 { close(s.fd) }
            s.fd = -1
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Waits until the child's output has ended (every writer closed the pipe) and is written.
    public func finished() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if !s.done { s.waiters.append(c) }
                return s.done
            }
            if done { c.resume() }
        }
    }

    private func openFile() throws(OSError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .system("cannot open \(path)") }
        var st = stat()
        fstat(fd, &st)
        state.withLock {
            if $0.fd >= 0 { close($0.fd) }
            $0.fd = fd
            $0.size = Int64(st.st_size)
        }
    }

    /// Moves `NAME.log` to `NAME.log.1` (and each older one up), dropping the oldest.
    private func rotate() {
        if files > 1 {
            unlink("\(path).\(files - 1)")
            for n in stride(from: files - 2, through: 1, by: -1) { rename("\(path).\(n)", "\(path).\(n + 1)") }
            rename(path, "\(path).1")
        } else {
            unlink(path)
        }
        try? openFile()
    }

    /// Writes a chunk of the child's output as records (`LogRecords`), rotating when the
    /// current file is full; a file is never cut inside a record.
    private func append(_ bytes: UnsafeRawBufferPointer) {
        let (records, ends) = LogRecords.records(of: bytes, stamp: LogRecords.stamp(), maxText: Int(maxBytes / 2))
        var offset = 0
        var next = 0
        while offset < records.count {
            let (fd, size) = state.withLock { ($0.fd, $0.size) }
            guard fd >= 0 else { return }
            // As many whole records as the file has room for.
            var end = offset
            while next < ends.count && Int64(ends[next] - offset) <= maxBytes - size {
                end = ends[next]
                next += 1
            }
            if end == offset {
                // Not one fits: a new file (a record is never longer than half a file).
                if size > 0 {
                    rotate()
                    continue
                }
                end = ends[next]
                next += 1
            }
            let written = records.withUnsafeBytes { write(fd, $0.baseAddress! + offset, end - offset) }
            // A full disk drops what cannot be written: the container's output never stops it.
            state.withLock { $0.size += Int64(written > 0 ? written : 0) }
            offset = end
        }
    }

    /// Where the output of the container's run before this one is kept (`NAME.previous.log`).
    public static func previousPath(_ path: String) -> String {
        (path.hasSuffix(".log") ? String(path.dropLast(4)) : path) + ".previous.log"
    }

    /// Before a container runs again: its last run's log (the current file and the one rotated
    /// before it) becomes the previous run's, and older files go, as the kubelet keeps one
    /// previous container's log.
    public static func keepAsPrevious(_ path: String, files: Int) {
        guard access(path, F_OK) == 0 else { return }
        let previous = previousPath(path)
        unlink(previous + ".1")
        rename(path, previous)
        if rename(path + ".1", previous + ".1") != 0 { unlink(previous + ".1") }
        for n in stride(from: 2, through: max(2, files), by: 1) { unlink("\(path).\(n)") }
    }
}

import CIMCSys
import Foundation
import Synchronization

/// A container's output, read from a pipe and kept in files of at most `maxBytes` each, the
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

    /// Writes a chunk of the child's output, rotating when the current file is full.
    private func append(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let (fd, room) = state.withLock { ($0.fd, maxBytes - $0.size) }
            guard fd >= 0 else { return }
            if room <= 0 {
                rotate()
                continue
            }
            let chunk = min(bytes.count - offset, Int(room))
            let written = write(fd, bytes.baseAddress! + offset, chunk)
            // A full disk drops what cannot be written: the container's output never stops it.
            let kept = written > 0 ? written : chunk
            state.withLock { $0.size += Int64(kept) }
            offset += kept
        }
    }

    /// The last `maxBytes` of the log (the rotated file before the current one included).
    public static func tail(_ path: String, maxBytes: Int) -> Data {
        func read(_ p: String, _ limit: Int) -> Data {
            guard let h = FileHandle(forReadingAtPath: p), limit > 0 else { return Data() }
            defer { try? h.close() }
            let end = (try? h.seekToEnd()) ?? 0
            try? h.seek(toOffset: end > UInt64(limit) ? end - UInt64(limit) : 0)
            return (try? h.readToEnd()) ?? Data()
        }
        let current = read(path, maxBytes)
        guard current.count < maxBytes else { return current }
        return read(path + ".1", maxBytes - current.count) + current
    }
}

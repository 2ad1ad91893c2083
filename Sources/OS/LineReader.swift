import CIMCSys
import Glibc
import Synchronization

/// The lines a child writes to a pipe, as they come: read by the process's `PipeReader`, each
/// line at most `maxLine` bytes (longer ones are cut there).
public enum LineReader {
    /// Makes a pipe: returns its write end for the child (the caller closes it once the child
    /// has it) and the lines read from the other end.
    public static func pipe(maxLine: Int = 64 << 10) throws(OSError) -> (writer: Int32, lines: AsyncStream<String>) {
        var ends: [Int32] = [0, 0]
        guard imc_pipe_cloexec(&ends) == 0 else { throw .system("cannot make a pipe") }
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let pending = Mutex<[UInt8]>([])
        do {
            try PipeReader.shared.watch(
                ends[0],
                onData: { bytes in
                    pending.withLock { line in
                        for byte in bytes {
                            if byte == UInt8(ascii: "\n") {
                                continuation.yield(String(decoding: line, as: UTF8.self))
                                line.removeAll(keepingCapacity: true)
                            } else if line.count < maxLine {
                                line.append(byte)
                            }
                        }
                    }
                },
                onEnd: {
                    pending.withLock { line in
                        if !line.isEmpty { continuation.yield(String(decoding: line, as: UTF8.self)) }
                    }
                    continuation.finish()
                })
        } catch {
            close(ends[1])
            throw error
        }
        return (ends[1], stream)
    }
}

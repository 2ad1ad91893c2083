import CIMCSys
import Dispatch
import Glibc

/// The lines a child writes to a pipe, as they come: read on a thread of the global queue (a
/// blocking read until the writers close the pipe), each line at most `maxLine` bytes (longer
/// ones are cut there).
public enum LineReader {
    /// Makes a pipe: returns its write end for the child (the caller closes it once the child
    /// has it) and the lines read from the other end.
    public static func pipe(maxLine: Int = 64 << 10) throws(OSError) -> (writer: Int32, lines: AsyncStream<String>) {
        var ends: [Int32] = [0, 0]
        guard imc_pipe_cloexec(&ends) == 0 else { throw .system("cannot make a pipe") }
        let reader = ends[0]
        let (stream, continuation) = AsyncStream<String>.makeStream()
        DispatchQueue.global().async {
            defer {
                close(reader)
                continuation.finish()
            }
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                for byte in buffer[0..<n] {
                    if byte == UInt8(ascii: "\n") {
                        continuation.yield(String(decoding: pending, as: UTF8.self))
                        pending.removeAll(keepingCapacity: true)
                    } else if pending.count < maxLine {
                        pending.append(byte)
                    }
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
        }
        return (ends[1], stream)
    }
}

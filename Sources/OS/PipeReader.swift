import CIMCSys
import Foundation
import Glibc
import Synchronization

/// The read ends of children's pipes (containers' output, build jobs' messages), watched by one
/// thread of this process with epoll, as swift-subprocess and NIO watch theirs.
///
/// Not a dispatch read source: on Linux, libdispatch's read sources on pipes crash its manager
/// thread now and then (`_dispatch_event_loop_drain`, a freed muxnote after the writers hang up);
/// imc serve died of it about once in six test runs. Here a watched descriptor is removed from
/// epoll and closed by the watching thread alone, after its last read, so no descriptor number
/// can be reused while an event for it is in flight.
public final class PipeReader: Sendable {
    /// The process's one reader.
    public static let shared = PipeReader()

    private let epoll: Int32
    private let watches = Mutex<Watches>(Watches())

    struct Watches {
        var byDescriptor: [Int32: Watch] = [:]
        var generation: UInt32 = 0
    }

    struct Watch {
        let generation: UInt32
        let onData: @Sendable (UnsafeRawBufferPointer) -> Void
        let onEnd: @Sendable () -> Void
    }

    private init() {
        epoll = imc_epoll_create()
        precondition(epoll >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        let thread = Thread { [self] in run() }
        thread.name = "imc-pipes"
        thread.start()
    }

    /// Watches the read end `fd` from now on; it is made non-blocking and belongs to the reader,
    /// which closes it. `onData` gets each chunk as it arrives, `onEnd` is called once when
    /// every writer has closed the pipe (both on the reader's thread: keep them short, never
    /// blocking on other work).
    public func watch(
        _ fd: Int32, onData: @escaping @Sendable (UnsafeRawBufferPointer) -> Void, onEnd: @escaping @Sendable () -> Void
    ) throws(OSError) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let generation = watches.withLock { w -> UInt32 in
            w.generation &+= 1
            w.byDescriptor[fd] = Watch(generation: w.generation, onData: onData, onEnd: onEnd)
            return w.generation
        }
        let key = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
        guard imc_epoll_add(epoll, fd, key) == 0 else {
            let error = OSError.system("cannot watch a pipe")
            watches.withLock { _ = $0.byDescriptor.removeValue(forKey: fd) }
            close(fd)
            throw error
        }
    }

    /// How many pipes are watched (for tests: none is left behind).
    public var watching: Int { watches.withLock { $0.byDescriptor.count } }

    private func run() {
        var keys = [UInt64](repeating: 0, count: 64)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = imc_epoll_wait(epoll, &keys, Int32(keys.count), -1)
            if n < 0 { continue }  // EINTR
            for i in 0..<Int(n) {
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: keys[i]))
                let generation = UInt32(truncatingIfNeeded: keys[i] >> 32)
                guard let watch = watches.withLock({ $0.byDescriptor[fd] }), watch.generation == generation else { continue }
                if drain(fd, watch, &buffer) { end(fd, watch) }
            }
        }
    }

    /// Reads what the pipe holds (at most 1 MiB a turn, so that one busy writer cannot starve
    /// the others: epoll reports it again). Returns whether the pipe has ended.
    private func drain(_ fd: Int32, _ watch: Watch, _ buffer: inout [UInt8]) -> Bool {
        var total = 0
        while total < 1 << 20 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.withUnsafeBytes { watch.onData(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                total += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return false }
            return true  // 0: every writer closed; or an error no read will get past
        }
        return false
    }

    private func end(_ fd: Int32, _ watch: Watch) {
        _ = imc_epoll_remove(epoll, fd)
        watches.withLock { _ = $0.byDescriptor.removeValue(forKey: fd) }
        close(fd)
        watch.onEnd()
    }
}

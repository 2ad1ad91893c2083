import Foundation

/// Threads for work that blocks (system calls on disks and mounts, checksums, unpacking), kept
/// off Swift's cooperative pool so that its few threads keep serving requests meanwhile.
///
/// The pool grows a thread for each job that would otherwise wait, up to `maximumThreads`, and a
/// thread idle for `idleTimeout` ends: jobs that wait for one another (a pipeline stage fed by
/// another) never starve for a thread below the maximum, and an idle service holds no threads.
public final class BlockingPool: @unchecked Sendable {
    /// The pool every module shares.
    public static let shared = BlockingPool()

    public let maximumThreads: Int
    let idleTimeout: TimeInterval
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var idle = 0
    private var threads = 0

    public init(maximumThreads: Int = 512, idleTimeout: TimeInterval = 30) {
        self.maximumThreads = maximumThreads
        self.idleTimeout = idleTimeout
    }

    /// Runs `body` on a pool thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body`, which cannot fail, on a pool thread.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in submit { continuation.resume(returning: body()) } }
    }

    /// Threads alive now (idle ones included).
    public var threadCount: Int { condition.withLock { threads } }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        let waiting = jobs.count - head
        let spawn = waiting > idle && threads < maximumThreads
        if spawn { threads += 1 }
        condition.signal()
        condition.unlock()
        if spawn {
            let thread = Thread { [self] in work() }
            thread.name = "imc-blocking"
            thread.start()
        }
    }

    private func work() {
        condition.lock()
        while true {
            while head == jobs.count {
                idle += 1
                let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
                idle -= 1
                if !signalled && head == jobs.count {
                    threads -= 1
                    condition.unlock()
                    return
                }
            }
            let job = jobs[head]
            head += 1
            if head > 64 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
            condition.lock()
        }
    }
}

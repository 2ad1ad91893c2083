import Foundation

/// Runs blocking work (processes, mounts, large file operations) on a thread of its own, so
/// that the few threads of the cooperative pool keep serving requests meanwhile.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread.detachNewThread { c.resume(with: Result { try body() }) }
    }
}

import Foundation
import IMCPull
import Synchronization

/// How far a build's pulls have come, as a percentage of the images' compressed bytes (read from
/// their manifests before the first pull): bytes received, plus layers found already present
/// at their full size. Reported as a `progress` `BuildMessage` each time the whole percentage
/// grows (at most 100 messages a build), and never as 100 (that is Ready, after the snapshot). When no image's
/// size could be read, the images done measure it instead.
final class BuildProgressMeter: Sendable {
    private struct State {
        var counted: Int64 = 0
        /// The current image's layers (compressed sizes) and the bytes counted for each.
        var layers: [Int64] = []
        var layerCounted: [Int64] = []
        var image = 0
        var reported = -1
    }

    private let sizes: [Int64?]
    private let total: Int64
    private let emit: @Sendable (BuildMessage) -> Void
    private let state = Mutex(State())

    init(sizes: [Int64?], emit: @escaping @Sendable (BuildMessage) -> Void) {
        self.sizes = sizes
        total = sizes.reduce(0) { $0 + ($1 ?? 0) }
        self.emit = emit
        report()
    }

    /// Image `n` (0-based) starts pulling.
    func start(image n: Int) {
        state.withLock {
            $0.image = n
            $0.layers = []
            $0.layerCounted = []
        }
    }

    func observe(_ event: PullEvent) {
        state.withLock { s in
            switch event {
            case .resolved(_, _, let layers):
                s.layers = layers.map(\.size)
                s.layerCounted = Array(repeating: 0, count: layers.count)
            case .layerBytes(let index, let bytes):
                guard s.layers.indices.contains(index) else { return }
                // A retried layer sends its bytes again: a layer counts up to its size.
                let add = min(Int64(bytes), max(0, s.layers[index] - s.layerCounted[index]))
                s.layerCounted[index] += add
                s.counted += add
            case .layerDone(let index, _, _):
                guard s.layers.indices.contains(index) else { return }
                s.counted += s.layers[index] - s.layerCounted[index]
                s.layerCounted[index] = s.layers[index]
            }
        }
        report()
    }

    /// Image `n` is done: whatever of its size was not counted (a manifest that changed since
    /// it was read) is counted now.
    func finish(image n: Int) {
        state.withLock { s in
            let expected = sizes.indices.contains(n) ? (sizes[n] ?? 0) : 0
            let seen = s.layerCounted.reduce(0, +)
            if seen < expected { s.counted += expected - seen }
            s.image = n + 1
            s.layers = []
            s.layerCounted = []
        }
        report()
    }

    private func report() {
        let message: BuildMessage? = state.withLock { s in
            let percent: Int
            if total > 0 {
                percent = Int(min(99, Double(s.counted) * 100 / Double(total)))
            } else {
                percent = sizes.isEmpty ? 0 : min(99, s.image * 100 / sizes.count)
            }
            guard percent > s.reported else { return nil }
            s.reported = percent
            var m = BuildMessage(.progress, "\(percent)%")
            m.percent = percent
            return m
        }
        if let message { emit(message) }
    }
}

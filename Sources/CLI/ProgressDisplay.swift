import Foundation
import IMCModel
import IMCPull
import Synchronization

/// Shows a pull's progress: live bars per layer and overall on a terminal (bytes, rate, ETA),
/// plain log lines otherwise, nothing with `--json`.
final class ProgressDisplay: Sendable {
    enum Mode {
        case bars
        case lines
        case silent
    }

    struct LayerState {
        var digest: Digest
        var size: Int64
        var received: Int64 = 0
        var done = false
        var reused = false
    }

    struct State {
        var layers: [LayerState] = []
        var started = ContinuousClock.now
        var linesDrawn = 0
    }

    let reference: String
    let mode: Mode
    let state = Mutex(State())

    init(reference: String, mode: Mode) {
        self.reference = reference
        self.mode = mode
    }

    func handle(_ event: PullEvent) {
        let line: String? = state.withLock { s in
            switch event {
            case .resolved(let manifest, let platform, let layers):
                s.layers = layers.map { LayerState(digest: $0.digest, size: $0.size) }
                return "\(reference): resolved \(manifest) for \(platform), \(layers.count) layers"
            case .layerBytes(let index, let bytes):
                if index < s.layers.count { s.layers[index].received += Int64(bytes) }
                return nil
            case .layerDone(let index, let reused, let unpacked):
                guard index < s.layers.count else { return nil }
                s.layers[index].done = true
                s.layers[index].reused = reused
                let l = s.layers[index]
                return reused
                    ? "layer \(index + 1)/\(s.layers.count) \(l.digest.short): already present"
                    : "layer \(index + 1)/\(s.layers.count) \(l.digest.short): \(formatBytes(l.size)) pulled, \(formatBytes(unpacked)) unpacked"
            }
        }
        if mode == .lines, let line { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// Runs `work`, redrawing the bars ten times a second while it runs.
    func run<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        guard mode == .bars else { return try await work() }
        let drawer = Task {
            while !Task.isCancelled {
                draw(final: false)
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        defer {
            drawer.cancel()
            draw(final: true)
        }
        return try await work()
    }

    private func draw(final: Bool) {
        let text: String = state.withLock { s in
            let elapsed = max(0.001, (ContinuousClock.now - s.started).seconds)
            var lines: [String] = []
            var total: Int64 = 0
            var received: Int64 = 0
            for l in s.layers {
                total += l.size
                received += l.done ? l.size : l.received
                let status =
                    l.reused
                    ? "already present"
                    : (l.done ? "done" : (l.received >= l.size ? "unpacking" : "\(formatBytes(l.received)) / \(formatBytes(l.size))"))
                lines.append("  \(l.digest.short)  \(bar(l.done ? 1 : Double(l.received) / Double(max(1, l.size)), width: 24))  \(status)")
            }
            let rate = Double(received) / elapsed
            let eta = rate > 0 && received < total ? String(format: " ETA %.0fs", Double(total - received) / rate) : ""
            lines.append(
                "\(reference)  \(bar(total > 0 ? Double(received) / Double(total) : 0, width: 24))  \(formatBytes(received)) / \(formatBytes(total))  \(formatBytes(Int64(rate)))/s\(eta)"
            )
            var out = s.linesDrawn > 0 ? "\u{1B}[\(s.linesDrawn)A" : ""
            for line in lines { out += "\u{1B}[2K" + line + "\n" }
            s.linesDrawn = lines.count
            return out
        }
        FileHandle.standardError.write(Data(text.utf8))
        _ = final
    }

    private func bar(_ fraction: Double, width: Int) -> String {
        let filled = Int((min(1, max(0, fraction)) * Double(width)).rounded(.down))
        return "[" + String(repeating: "=", count: filled) + (filled < width ? ">" + String(repeating: " ", count: width - filled - 1) : "")
            + "]"
    }
}

import Foundation
import IMCOS
import IMCServiceSupport

/// Containers' output, read from their log files.
extension InstanceService {
    /// A container's output (the last `tail` lines and at most `limitBytes` bytes).
    public func logs(id: String, account: String, container: String?, tail: Int?, limitBytes: Int?) async throws -> (String, String) {
        let instance = try await get(id: id, account: account)
        let names = (instance.initContainers + instance.containers).map(\.name)
        let name = container ?? instance.containers.first?.name ?? ""
        guard names.contains(name) else {
            throw ServiceError.invalidValue(
                "ContainerName", "ContainerName \"\(name.prefix(60))\" is not a container of \(id); it has \(names.joined(separator: ", "))"
            )
        }
        if let tail, tail < 0 { throw ServiceError.invalidValue("Tail", "Tail must not be negative, not \(tail)") }
        if let limitBytes, limitBytes <= 0 {
            throw ServiceError.invalidValue("LimitBytes", "LimitBytes must be positive, not \(limitBytes)")
        }
        // The log is on the instance's disk, on its node: an API replica elsewhere says so
        // rather than answering an empty log.
        guard isHere(instance) || nodes == nil else {
            throw ServiceError(
                .inUse,
                "instance \(id) runs on node \(instance.node ?? "-"): its logs are kept there and are not reachable from this API replica",
                specificCode: "ResourceUnavailable")
        }
        let maxBytes = min(limitBytes ?? (1 << 20), 1 << 20)
        var text = String(decoding: LogWriter.tail(logPath(instance.id, name), maxBytes: maxBytes), as: UTF8.self)
        if let tail {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() }
            text = lines.suffix(tail).joined(separator: "\n") + (lines.isEmpty || tail == 0 ? "" : "\n")
        }
        return (name, text)
    }
}

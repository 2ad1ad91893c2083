import Foundation
import IMCOS
import IMCServiceSupport

/// What a reader asks of a container's output (the Cloud API's DescribeEksContainerInstanceLog
/// and `kubectl logs` ask the same things under other names).
public struct LogRequest: Sendable, Equatable {
    /// The container; nil: the instance's first.
    public var container: String?
    /// Only the last this many lines.
    public var tail: Int?
    /// At most this many bytes, from the start of what is selected (the API server's
    /// `limitBytes`: the last line may be cut).
    public var limitBytes: Int?
    /// Only what was written at or after this time (`StartTime`, `SinceSeconds`, `--since`,
    /// `--since-time`).
    public var since: Date?
    /// Each line begins with when it was written (`--timestamps`).
    public var timestamps = false
    /// The run of the container before its last restart (`Previous`, `--previous`).
    public var previous = false

    public init(container: String? = nil, tail: Int? = nil, limitBytes: Int? = nil) {
        self.container = container
        self.tail = tail
        self.limitBytes = limitBytes
    }
}

/// Containers' output, read from their log files.
extension InstanceService {
    /// How much of a log file is read at most: the window `since` and `tail` choose from.
    static let logWindowBytes = 2 << 20

    /// A container's output (the last `tail` lines and at most `limitBytes` bytes).
    public func logs(id: String, account: String, container: String?, tail: Int?, limitBytes: Int?) async throws -> (String, String) {
        try await logs(id: id, account: account, LogRequest(container: container, tail: tail, limitBytes: limitBytes))
    }

    /// A container's output as `request` selects it: the container's name and the text.
    public func logs(id: String, account: String, _ request: LogRequest) async throws -> (String, String) {
        let instance = try await get(id: id, account: account)
        let names = (instance.initContainers + instance.containers).map(\.name)
        let name = request.container ?? instance.containers.first?.name ?? ""
        guard names.contains(name) else {
            throw ServiceError.invalidValue(
                "ContainerName", "ContainerName \"\(name.prefix(60))\" is not a container of \(id); it has \(names.joined(separator: ", "))"
            )
        }
        if let tail = request.tail, tail < 0 { throw ServiceError.invalidValue("Tail", "Tail must not be negative, not \(tail)") }
        if let limitBytes = request.limitBytes, limitBytes <= 0 {
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
        var path = logPath(instance.id, name)
        if request.previous {
            path = LogWriter.previousPath(path)
            guard FileManager.default.fileExists(atPath: path) else {
                throw ServiceError.invalidValue(
                    "Previous", "Previous: the previous terminated container \"\(name)\" of \(id) is not found; it has not been restarted")
            }
        }
        let (data, cut) = LogRecords.window(path, maxBytes: Self.logWindowBytes)
        var text = LogRecords.text(data, selection: LogRecords.Selection(since: request.since, timestamps: request.timestamps), cut: cut)
        if let tail = request.tail {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let ended = lines.last == ""
            if ended { lines.removeLast() }
            text = lines.suffix(tail).joined(separator: "\n") + (lines.isEmpty || tail == 0 || !ended ? "" : "\n")
        }
        if let limit = request.limitBytes, text.utf8.count > limit {
            text = String(decoding: text.utf8.prefix(min(limit, 1 << 20)), as: UTF8.self)
        } else if text.utf8.count > 1 << 20 {
            text = String(decoding: text.utf8.suffix(1 << 20), as: UTF8.self)
        }
        return (name, text)
    }
}

import Foundation
import IMCDocuments

/// Kubernetes' remote command protocol over WebSocket (`kubectl exec` and `attach`, the
/// `channel.k8s.io` subprotocols): every message is binary, its first byte the stream it
/// belongs to. v4 ends with a `Status` on the error stream that carries the exit code; v5 adds
/// a message by which the client closes a stream (its input's end). Pure: the door's WebSocket
/// handler carries it out.
enum RemoteCommand {
    /// The subprotocols served, most preferred first (kubectl 1.30 and later offer v5 alone).
    static let protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"]

    enum Stream: UInt8 {
        case stdin = 0
        case stdout = 1
        case stderr = 2
        case error = 3
        case resize = 4
        /// v5: the next byte names a stream the client will send no more on.
        case close = 255
    }

    /// What an exec or attach asks (its query: `command` repeated, `container`, and which
    /// streams).
    struct Options: Equatable {
        var command: [String] = []
        var container: String?
        var stdin = false
        var stdout = false
        var stderr = false
        var tty = false
    }

    /// The options in `query` (the raw query string), checked as the API server checks them.
    static func options(query: String, needsCommand: Bool) throws(KubernetesStatus) -> Options {
        var options = Options()
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(kv[0])
            let value = kv.count > 1 ? decode(kv[1]) : ""
            switch key {
            case "command", "command[]": options.command.append(value)
            case "container": options.container = value.isEmpty ? nil : value
            case "stdin": options.stdin = try flag(key, value)
            case "stdout": options.stdout = try flag(key, value)
            case "stderr": options.stderr = try flag(key, value)
            case "tty": options.tty = try flag(key, value)
            default: throw KubernetesStatus.badRequest("\(key.prefix(40)) is not a parameter of this request")
            }
        }
        if needsCommand && options.command.isEmpty {
            throw KubernetesStatus.badRequest("you must specify at least one command for the container")
        }
        if !needsCommand && !options.command.isEmpty {
            throw KubernetesStatus.badRequest("command is not a parameter of attach; kubectl exec runs a command")
        }
        if !(options.stdin || options.stdout || options.stderr) {
            throw KubernetesStatus.badRequest("you must specify at least 1 of stdin, stdout, stderr")
        }
        if options.tty && options.stderr {
            throw KubernetesStatus.badRequest("tty and stderr cannot both be true: a terminal carries both outputs")
        }
        return options
    }

    /// The first subprotocol of ours the client offers (`Sec-WebSocket-Protocol`), or nil.
    static func chosen(_ offered: [String]) -> String? {
        let names = Set(offered.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) })
        return protocols.first { names.contains($0) }
    }

    /// The message that ends a command: `Success`, or the exit code as kubectl reads it (a
    /// `NonZeroExitCode` failure with an `ExitCode` cause; kubectl exits with that code).
    static func ending(exitCode: Int32) -> [UInt8] {
        guard exitCode != 0 else { return (["metadata": [:], "status": "Success"] as JSONValue).bytes }
        let code = min(max(Int(exitCode), 0), 255)
        let object: JSONValue = [
            "metadata": [:], "status": "Failure", "reason": "NonZeroExitCode",
            "message": .string("command terminated with non-zero exit code: exit code \(code)"),
            "details": ["causes": [["reason": "ExitCode", "message": .string("\(code)")]]],
        ]
        return object.bytes
    }

    /// The message that ends an exec the command did not run for: why.
    static func failure(_ message: String) -> [UInt8] {
        let object: JSONValue = ["metadata": [:], "status": "Failure", "reason": "InternalError", "message": .string(message)]
        return object.bytes
    }

    /// A terminal's new size (`{"Width":W,"Height":H}` on the resize stream).
    static func size(_ bytes: some Collection<UInt8>) -> (columns: Int, rows: Int)? {
        guard bytes.count < 256, let object = JSON.parse(Array(bytes)), let width = object["Width"]?.int,
            let height = object["Height"]?.int, (1...9999).contains(width), (1...9999).contains(height)
        else { return nil }
        return (Int(width), Int(height))
    }

    private static func decode(_ s: Substring) -> String {
        String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
    }

    /// A boolean as Go's ParseBool reads one.
    private static func flag(_ key: String, _ value: String) throws(KubernetesStatus) -> Bool {
        switch value {
        case "1", "t", "T", "true", "True", "TRUE": return true
        case "0", "f", "F", "false", "False", "FALSE": return false
        default: throw KubernetesStatus.badRequest("\(key) must be true or false, not \(value.prefix(20))")
        }
    }
}

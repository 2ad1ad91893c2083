import Foundation

/// A container's probe, with Kubernetes' timing: the first after `initialDelaySeconds` from the
/// container's start, then every `periodSeconds`, each given `timeoutSeconds`; `successThreshold`
/// successes in a row make it pass, `failureThreshold` failures in a row make it fail.
public struct Probe: Codable, Sendable, Equatable {
    public enum Handler: Codable, Sendable, Equatable {
        /// A command run in the container (`runc exec`): exit 0 passes.
        case exec([String])
        /// An HTTP GET from inside the Pod's network: a status from 200 to 399 passes.
        case httpGet(path: String, port: Int, scheme: String, headers: [String: String])
        /// A TCP connection from inside the Pod's network: connecting passes.
        case tcpSocket(port: Int)
    }
    public var handler: Handler
    public var initialDelaySeconds = 0
    public var periodSeconds = 10
    public var timeoutSeconds = 1
    public var successThreshold = 1
    public var failureThreshold = 3

    public init(handler: Handler) { self.handler = handler }

    /// The timing fields in order (Kubernetes' names; the Cloud API's are the same, capitalised),
    /// with the least each takes (the most is a day).
    public static let timingFields: [(name: String, least: Int, path: WritableKeyPath<Probe, Int> & Sendable)] = [
        ("initialDelaySeconds", 0, \.initialDelaySeconds), ("periodSeconds", 1, \.periodSeconds),
        ("timeoutSeconds", 1, \.timeoutSeconds), ("successThreshold", 1, \.successThreshold),
        ("failureThreshold", 1, \.failureThreshold),
    ]

    /// Sets the timing given (`values` in `timingFields`' order; nil keeps Kubernetes' default),
    /// or says which field is out of range and why (`index`, `problem`), changing nothing.
    public mutating func setTiming(_ values: [Int?]) -> (index: Int, problem: String)? {
        var out = self
        for (i, (_, least, path)) in Self.timingFields.enumerated() {
            guard i < values.count, let value = values[i] else { continue }
            guard value >= least, value <= 86400 else { return (i, "must be from \(least) to 86400, not \(value)") }
            out[keyPath: path] = value
        }
        self = out
        return nil
    }
}

public enum ProbeKind: String, Codable, Sendable, CaseIterable {
    case startup = "Startup"
    case liveness = "Liveness"
    case readiness = "Readiness"
}

/// A container's probes.
public struct ContainerProbes: Codable, Sendable, Equatable {
    public var liveness: Probe?
    public var readiness: Probe?
    public var startup: Probe?
    public init(liveness: Probe? = nil, readiness: Probe? = nil, startup: Probe? = nil) {
        self.liveness = liveness
        self.readiness = readiness
        self.startup = startup
    }
    public subscript(kind: ProbeKind) -> Probe? {
        switch kind {
        case .startup: startup
        case .liveness: liveness
        case .readiness: readiness
        }
    }
    public var isEmpty: Bool { liveness == nil && readiness == nil && startup == nil }
}

/// What a probe's result leads to.
public enum ProbeOutcome: Equatable, Sendable {
    /// A probe failed (the kubelet's `Unhealthy` Warning: "Liveness probe failed: ...").
    case unhealthy(ProbeKind, String)
    /// The container is to be killed and restarted as its policy says (liveness or startup
    /// failed `failureThreshold` times in a row).
    case kill(String)
    /// The container became ready, or stopped being.
    case ready(Bool)
}

/// One run of a container's probes, as a pure state machine: results in, outcomes out. While a
/// startup probe has not passed, only it runs; then liveness and readiness, each on its own
/// period. Readiness starts false with a readiness probe, true without one.
public struct ProbeMachine: Equatable, Sendable {
    public let probes: ContainerProbes
    public let containerName: String
    public private(set) var started: Bool
    public private(set) var ready: Bool
    /// When each probe runs next.
    public private(set) var next: [ProbeKind: Date] = [:]
    private var successes: [ProbeKind: Int] = [:]
    private var failures: [ProbeKind: Int] = [:]
    /// Once killed, nothing more is said of this run.
    public private(set) var killed = false

    public init(_ probes: ContainerProbes, container: String, startedAt: Date) {
        self.probes = probes
        containerName = container
        started = probes.startup == nil
        ready = probes.readiness == nil && probes.startup == nil
        for kind in ProbeKind.allCases where probes[kind] != nil && (kind == .startup || started) {
            next[kind] = startedAt.addingTimeInterval(Double(probes[kind]!.initialDelaySeconds))
        }
    }

    /// The probes due at `now`.
    public func due(at now: Date) -> [ProbeKind] {
        killed ? [] : ProbeKind.allCases.filter { kind in next[kind].map { $0 <= now } ?? false }
    }

    /// When the next probe is due; nil when none will run.
    public var nextDue: Date? { killed ? nil : next.values.min() }

    /// A probe's result at `now`.
    public mutating func result(_ kind: ProbeKind, passed: Bool, message: String, at now: Date) -> [ProbeOutcome] {
        guard !killed, let probe = probes[kind] else { return [] }
        next[kind] = now.addingTimeInterval(Double(max(1, probe.periodSeconds)))
        var out: [ProbeOutcome] = []
        if passed {
            failures[kind] = 0
            successes[kind, default: 0] += 1
            // Liveness and startup pass at one success, as Kubernetes requires of them.
            let needed = kind == .readiness ? max(1, probe.successThreshold) : 1
            guard successes[kind, default: 0] >= needed else { return [] }
            switch kind {
            case .startup:
                started = true
                next[.startup] = nil
                for k in [ProbeKind.liveness, .readiness] where probes[k] != nil { next[k] = now }
                if probes.readiness == nil, !ready {
                    ready = true
                    out.append(.ready(true))
                }
            case .readiness:
                if !ready {
                    ready = true
                    out.append(.ready(true))
                }
            case .liveness: break
            }
            return out
        }
        successes[kind] = 0
        failures[kind, default: 0] += 1
        out.append(.unhealthy(kind, "\(kind.rawValue) probe failed: \(message)"))
        guard failures[kind, default: 0] >= max(1, probe.failureThreshold) else { return out }
        switch kind {
        case .liveness, .startup:
            killed = true
            next = [:]
            if ready { out.append(.ready(false)) }
            ready = false
            out.append(.kill("Container \(containerName) failed \(kind.rawValue.lowercased()) probe, will be restarted"))
        case .readiness:
            if ready {
                ready = false
                out.append(.ready(false))
            }
        }
        return out
    }
}

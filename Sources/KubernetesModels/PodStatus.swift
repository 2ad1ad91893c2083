/// A Pod's `status`: written by the server, never read from a client (Kubernetes ignores it on
/// create too), so decoding takes nothing from what was sent.
public struct PodStatus: Codable, Sendable, Equatable {
    /// `Pending`, `Running`, `Succeeded` or `Failed`.
    public var phase: String?
    public var conditions: [PodCondition]?
    public var message: String?
    public var hostIP: String?
    public var podIP: String?
    public var podIPs: [PodIP]?
    public var startTime: String?
    public var initContainerStatuses: [ContainerStatus]?
    public var containerStatuses: [ContainerStatus]?
    public var qosClass: String?

    public init(phase: String) { self.phase = phase }

    public init(from decoder: any Decoder) throws {}
}

public struct PodIP: Codable, Sendable, Equatable {
    public var ip: String
    public init(ip: String) { self.ip = ip }
}

/// `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`: `True` or `False`.
public struct PodCondition: Codable, Sendable, Equatable {
    public var type: String
    public var status: String
    /// Always null here (no probes yet), written as the kubelet writes it.
    public var lastProbeTime: String?
    public var lastTransitionTime: String

    public init(type: String, _ value: Bool, lastTransitionTime: String) {
        self.type = type
        status = value ? "True" : "False"
        self.lastTransitionTime = lastTransitionTime
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(status, forKey: .status)
        if let lastProbeTime { try c.encode(lastProbeTime, forKey: .lastProbeTime) } else { try c.encodeNil(forKey: .lastProbeTime) }
        try c.encode(lastTransitionTime, forKey: .lastTransitionTime)
    }
}

public struct ContainerStatus: Codable, Sendable, Equatable {
    public var name: String
    public var image: String
    public var imageID: String
    public var ready: Bool
    public var started: Bool
    public var restartCount: Int
    public var state: ContainerStateValue

    public init(name: String, image: String, ready: Bool, started: Bool, restartCount: Int, state: ContainerStateValue) {
        self.name = name
        self.image = image
        imageID = ""
        self.ready = ready
        self.started = started
        self.restartCount = restartCount
        self.state = state
    }
}

/// Exactly one of its fields is set.
public struct ContainerStateValue: Codable, Sendable, Equatable {
    public var waiting: Waiting?
    public var running: Running?
    public var terminated: Terminated?

    public static func waiting(reason: String, message: String?) -> Self {
        Self(waiting: Waiting(reason: reason, message: message))
    }
    public static func running(startedAt: String) -> Self { Self(running: Running(startedAt: startedAt)) }
    public static func terminated(_ t: Terminated) -> Self { Self(terminated: t) }

    public struct Waiting: Codable, Sendable, Equatable {
        public var reason: String
        public var message: String?
    }

    public struct Running: Codable, Sendable, Equatable {
        public var startedAt: String
    }

    public struct Terminated: Codable, Sendable, Equatable {
        public var exitCode: Int
        public var reason: String
        public var message: String?
        public var startedAt: String?
        public var finishedAt: String

        public init(exitCode: Int, reason: String, message: String?, startedAt: String?, finishedAt: String) {
            self.exitCode = exitCode
            self.reason = reason
            self.message = message
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }
}

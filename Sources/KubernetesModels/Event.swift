/// A `v1` Event: what `kubectl describe` lists under an object and `kubectl get events` shows.
public struct Event: Codable, Sendable, Equatable {
    public var apiVersion = "v1"
    public var kind = "Event"
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference
    /// A word (`ImageCacheUsed`, `Pulled`, `BackOff`).
    public var reason: String
    public var message: String
    /// `Normal` or `Warning`.
    public var type: String
    public var firstTimestamp: String
    public var lastTimestamp: String
    public var count: Int
    public var source: EventSource
    public var reportingComponent: String

    public init(
        metadata: ObjectMeta, involvedObject: ObjectReference, reason: String, message: String, type: String, firstTimestamp: String,
        lastTimestamp: String, count: Int, component: String
    ) {
        self.metadata = metadata
        self.involvedObject = involvedObject
        self.reason = reason
        self.message = message
        self.type = type
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
        self.count = count
        source = EventSource(component: component, host: component)
        reportingComponent = component
    }
}

/// Which object an event is about.
public struct ObjectReference: Codable, Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var namespace: String?
    public var uid: String

    public init(apiVersion: String, kind: String, name: String, namespace: String? = nil, uid: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.uid = uid
    }
}

/// Who reported an event.
public struct EventSource: Codable, Sendable, Equatable {
    public var component: String
    public var host: String
}

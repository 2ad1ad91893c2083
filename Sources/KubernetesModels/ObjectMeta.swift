/// The Kubernetes object types imc's door reads, as Codable values with Kubernetes' own field
/// names. This target depends on nothing of imc's: what a field means to imc is decided by the
/// code that maps these types to the service's requests.

/// `metadata` of an object sent to the door. The fields the server writes (`uid`,
/// `creationTimestamp`, `generation`, `managedFields`) are read so that an object written back as
/// it was read is accepted, and are then the server's own, as Kubernetes does on create.
public struct ObjectMeta: Codable, Sendable, Equatable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    /// Must be empty on create (Kubernetes: "resourceVersion should not be set on objects to be created").
    public var resourceVersion: String?
    /// The server's: replaced on create.
    public var uid: String?
    /// The server's: replaced on create (`kubectl run` sends null).
    public var creationTimestamp: String?
    /// The server's: replaced on create; counts the changes of the spec.
    public var generation: Int?
    /// The server's: set when a delete has begun.
    public var deletionTimestamp: String?
    public var deletionGracePeriodSeconds: Int?

    public init(name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil, annotations: [String: String]? = nil) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}

/// A reference to an object of the same namespace by name (`imagePullSecrets`).
public struct LocalObjectReference: Codable, Sendable, Equatable {
    public var name: String
    public init(name: String) { self.name = name }
}

/// A value written as text or as a number (`"2"` or `2`; a quantity `500m` or `1`), kept as its text.
public struct Scalar: Codable, Sendable, Equatable, ExpressibleByStringLiteral {
    public var text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral text: String) { self.text = text }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            text = s
        } else if let n = try? c.decode(Int64.self) {
            text = String(n)
        } else if let d = try? c.decode(Double.self) {
            text = "\(d)"
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be a string or a number"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }
}

/// A value whose content is not read: a field refused by name whatever it holds (a volume's
/// source, `valueFrom`).
public struct Opaque: Codable, Sendable, Equatable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {}
}

/// A field whose value is one of a fixed set of names; another is refused naming them
/// (`"Sometimes" is not one of Always, OnFailure, Never`).
public protocol Choice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension Choice {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "\"\(text.prefix(60))\" is not one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        self = value
    }
}

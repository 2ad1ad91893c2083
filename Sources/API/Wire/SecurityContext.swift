import IMCDocuments
import IMCModel

/// A container's `SecurityContext` as the wire carries it (the real service's `Capabilities`, and
/// imc's extensions with Kubernetes' meanings); `SecurityContextRequest` is what is allowed of it.
public struct SecurityContext: Codable, Sendable, Equatable {
    public struct CapabilityChanges: Codable, Sendable, Equatable {
        public var Add: [String]?
        public var Drop: [String]?
        public init(Add: [String]? = nil, Drop: [String]? = nil) {
            self.Add = Add
            self.Drop = Drop
        }
    }

    public var Capabilities: CapabilityChanges?
    public var RunAsUser: Int64?
    public var RunAsGroup: Int64?
    public var RunAsNonRoot: Bool?
    public var ReadOnlyRootFilesystem: Bool?
    public var Privileged: Bool?
    public var AllowPrivilegeEscalation: Bool?

    public init() {}
}

/// A container's `SecurityContext`, checked: the real service's `Capabilities` (`Add`, `Drop`), and
/// imc's extensions with Kubernetes' meanings (`RunAsUser`, `RunAsGroup`, `RunAsNonRoot`,
/// `ReadOnlyRootFilesystem`, `Privileged`, `AllowPrivilegeEscalation`). What asks for the host
/// is refused, naming the field: a tenant's container never gets more than Docker's default
/// capabilities, never privileges, never a way to gain them.
public struct SecurityContextRequest: Sendable, Equatable {
    public var runAsUser: UInt32?
    public var runAsGroup: UInt32?
    public var runAsNonRoot: Bool?
    public var readOnlyRootFilesystem: Bool?
    public var drop: [String] = []

    public init() {}

    /// Checks `wire`, found at `path` (`Containers[0].SecurityContext`).
    public init(_ wire: SecurityContext, path: FieldPath) throws(APIError) {
        func id(_ name: String, _ value: Int64?) throws(APIError) -> UInt32? {
            guard let value else { return nil }
            guard (0...65535).contains(value) else {
                throw .invalidParameterValue("\(path).\(name) must be an id from 0 to 65535, not \(value)", field: path.key(name))
            }
            return UInt32(value)
        }
        if wire.Privileged == true {
            throw .invalidParameterValue(
                "\(path).Privileged true is refused: a container never gets the host's privileges", field: path.key("Privileged"))
        }
        if wire.AllowPrivilegeEscalation == true {
            throw .invalidParameterValue(
                "\(path).AllowPrivilegeEscalation true is refused: containers run with no_new_privs (setuid programs gain nothing)",
                field: path.key("AllowPrivilegeEscalation"))
        }
        runAsUser = try id("RunAsUser", wire.RunAsUser)
        runAsGroup = try id("RunAsGroup", wire.RunAsGroup)
        runAsNonRoot = wire.RunAsNonRoot
        readOnlyRootFilesystem = wire.ReadOnlyRootFilesystem
        let caps = path.key("Capabilities")
        for name in (wire.Capabilities?.Add ?? []).map(Capability.normalise) where !Capability.dockerDefaults.contains(name) {
            throw .invalidParameterValue(
                "\(caps).Add \(name) is refused: a container may have only Docker's default capabilities", field: caps.key("Add"))
        }
        drop = (wire.Capabilities?.Drop ?? []).map(Capability.normalise)
        for name in drop where !Capability.isKnown(name) {
            throw .invalidParameterValue("\(caps).Drop \(name) is not a capability", field: caps.key("Drop"))
        }
    }
}

/// A `v1` Pod as a client sends it. Every field here is one imc acts on, checks, or documents as
/// the server's; a field that is not here is refused by the strict decoder, naming its path.
public struct Pod: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: PodSpec
    /// The server's: not read from a client.
    public var status: PodStatus?

    public init(metadata: ObjectMeta, spec: PodSpec, status: PodStatus? = nil) {
        apiVersion = "v1"
        kind = "Pod"
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct PodSpec: Codable, Sendable, Equatable {
    public var containers: [Container]
    public var initContainers: [Container]?
    public var restartPolicy: RestartPolicy?
    public var terminationGracePeriodSeconds: Int?
    public var runtimeClassName: String?
    public var securityContext: PodSecurityContext?
    public var imagePullSecrets: [LocalObjectReference]?
    /// `ClusterFirst` (what kubectl sends) and `Default` both mean the instance's resolvers (imc
    /// has no cluster DNS); `None` takes `dnsConfig` alone.
    public var dnsPolicy: DNSPolicy?
    public var dnsConfig: PodDNSConfig?
    /// Checked: only `false` is taken (a Pod never shares the node's namespaces).
    public var hostNetwork: Bool?
    public var hostPID: Bool?
    public var hostIPC: Bool?
    /// emptyDir, configMap, secret, downwardAPI and projected volumes; `hostPath`,
    /// `persistentVolumeClaim` and `nfs` are refused by name.
    public var volumes: [Volume]?
    /// The server's (the node it placed the Pod on, and `imc`): a client's is refused, as
    /// imc places every Pod itself.
    public var nodeName: String?
    public var schedulerName: String?

    public init(containers: [Container]) { self.containers = containers }

    public enum RestartPolicy: String, Choice { case Always, OnFailure, Never }
    public enum DNSPolicy: String, Choice { case ClusterFirst, Default, None, ClusterFirstWithHostNet }
}

public struct PodDNSConfig: Codable, Sendable, Equatable {
    public var nameservers: [String]?
    public var searches: [String]?
    public var options: [Option]?

    public struct Option: Codable, Sendable, Equatable {
        public var name: String
        public var value: String?
    }
}

public struct PodSecurityContext: Codable, Sendable, Equatable {
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var runAsNonRoot: Bool?
}

public struct Container: Codable, Sendable, Equatable {
    public var name: String
    public var image: String
    public var command: [String]?
    public var args: [String]?
    public var workingDir: String?
    public var env: [EnvVar]?
    public var envFrom: [EnvFromSource]?
    public var volumeMounts: [VolumeMount]?
    public var livenessProbe: ProbeSpec?
    public var readinessProbe: ProbeSpec?
    public var startupProbe: ProbeSpec?
    public var resources: ResourceRequirements?
    public var securityContext: SecurityContext?
    /// Taken as written: an image from a cache is present; otherwise it is pulled, and a tag
    /// that moved since the cache was built is warned of in the instance's events.
    public var imagePullPolicy: PullPolicy?
    /// Informational, as in Kubernetes (a container's ports are open on the Pod's address
    /// whether listed or not); `hostPort` is refused.
    public var ports: [ContainerPort]?

    public init(name: String, image: String) {
        self.name = name
        self.image = image
    }

    public enum PullPolicy: String, Choice { case Always, IfNotPresent, Never }
}

public struct EnvVar: Codable, Sendable, Equatable {
    public var name: String
    /// Text or a number (written plain in YAML).
    public var value: Scalar?
    /// A value resolved when the container starts: a field of the Pod, a resource of a
    /// container, or a key of a ConfigMap or Secret of the Pod's namespace.
    public var valueFrom: EnvVarSource?

    public init(name: String, value: Scalar?, valueFrom: EnvVarSource? = nil) {
        self.name = name
        self.value = value
        self.valueFrom = valueFrom
    }
}

public struct EnvVarSource: Codable, Sendable, Equatable {
    public var fieldRef: ObjectFieldSelector?
    public var resourceFieldRef: ResourceFieldSelector?
    public var configMapKeyRef: KeySelector?
    public var secretKeyRef: KeySelector?

    public init(
        fieldRef: ObjectFieldSelector? = nil, resourceFieldRef: ResourceFieldSelector? = nil, configMapKeyRef: KeySelector? = nil,
        secretKeyRef: KeySelector? = nil
    ) {
        self.fieldRef = fieldRef
        self.resourceFieldRef = resourceFieldRef
        self.configMapKeyRef = configMapKeyRef
        self.secretKeyRef = secretKeyRef
    }
}

public struct ObjectFieldSelector: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var fieldPath: String
    public init(fieldPath: String) { self.fieldPath = fieldPath }
}

public struct ResourceFieldSelector: Codable, Sendable, Equatable {
    public var containerName: String?
    public var resource: String
    /// A quantity (`1`, `1m`, `1Mi`), text or a number.
    public var divisor: Scalar?
    public init(resource: String) { self.resource = resource }
}

/// `configMapKeyRef` / `secretKeyRef`.
public struct KeySelector: Codable, Sendable, Equatable {
    public var name: String?
    public var key: String
    public var optional: Bool?
    public init(name: String, key: String, optional: Bool? = nil) {
        self.name = name
        self.key = key
        self.optional = optional
    }
}

/// `envFrom`: a ConfigMap's or Secret's keys as variables.
public struct EnvFromSource: Codable, Sendable, Equatable {
    public var prefix: String?
    public var configMapRef: ObjectReferenceByName?
    public var secretRef: ObjectReferenceByName?
    public init(prefix: String? = nil, configMapRef: ObjectReferenceByName? = nil, secretRef: ObjectReferenceByName? = nil) {
        self.prefix = prefix
        self.configMapRef = configMapRef
        self.secretRef = secretRef
    }
}

/// `configMapRef` / `secretRef` of `envFrom`.
public struct ObjectReferenceByName: Codable, Sendable, Equatable {
    public var name: String?
    public var optional: Bool?
    public init(name: String, optional: Bool? = nil) {
        self.name = name
        self.optional = optional
    }
}

public struct ResourceRequirements: Codable, Sendable, Equatable {
    public var requests: [String: Scalar]?
    public var limits: [String: Scalar]?

    public init(requests: [String: Scalar]? = nil, limits: [String: Scalar]? = nil) {
        self.requests = requests
        self.limits = limits
    }
}

public struct ContainerPort: Codable, Sendable, Equatable {
    public var containerPort: Int
    public var name: String?
    public var `protocol`: String?
    public var hostPort: Int?
    public var hostIP: String?
}

public struct SecurityContext: Codable, Sendable, Equatable {
    public var privileged: Bool?
    public var allowPrivilegeEscalation: Bool?
    public var capabilities: Capabilities?
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var runAsNonRoot: Bool?
    public var readOnlyRootFilesystem: Bool?

    public struct Capabilities: Codable, Sendable, Equatable {
        public var add: [String]?
        public var drop: [String]?
    }
}

/// A Pod's volume: its name and its source, each source read only to refuse it by name.
public struct Volume: Codable, Sendable, Equatable {
    public var name: String
    /// Refused: a Pod never sees the node's files.
    public var hostPath: Opaque?
    public var emptyDir: EmptyDirVolumeSource?
    public var configMap: ConfigMapVolumeSource?
    public var secret: SecretVolumeSource?
    public var projected: ProjectedVolumeSource?
    public var downwardAPI: DownwardAPIVolumeSource?
    /// An NFS export, mounted by imc's userspace client (the node's kernel has none).
    public var nfs: NFSVolumeSource?
    /// Refused: imc has no persistent volumes.
    public var persistentVolumeClaim: Opaque?

    public init(name: String) { self.name = name }

    /// The source's field name, for the messages about it; nil when none is given.
    public var source: String? { sources.first }

    /// Every source given (one is allowed).
    public var sources: [String] {
        let named: [(String, Bool)] = [
            ("hostPath", hostPath != nil), ("emptyDir", emptyDir != nil), ("configMap", configMap != nil), ("secret", secret != nil),
            ("projected", projected != nil), ("downwardAPI", downwardAPI != nil), ("nfs", nfs != nil),
            ("persistentVolumeClaim", persistentVolumeClaim != nil),
        ]
        return named.filter(\.1).map(\.0)
    }
}

public struct NFSVolumeSource: Codable, Sendable, Equatable {
    public var server: String
    public var path: String
    public var readOnly: Bool?
    public init(server: String, path: String, readOnly: Bool? = nil) {
        self.server = server
        self.path = path
        self.readOnly = readOnly
    }
}

public struct EmptyDirVolumeSource: Codable, Sendable, Equatable {
    /// "" (the node's disk: here, the instance's disk) or `Memory` (a tmpfs).
    public var medium: String?
    /// A quantity (`1Gi`, `500Mi`).
    public var sizeLimit: Scalar?
    public init(medium: String? = nil, sizeLimit: Scalar? = nil) {
        self.medium = medium
        self.sizeLimit = sizeLimit
    }
}

/// `items` of a ConfigMap, Secret or downward API volume: a key (or field) to a file.
public struct KeyToPath: Codable, Sendable, Equatable {
    public var key: String
    public var path: String
    public var mode: Int?
    public init(key: String, path: String, mode: Int? = nil) {
        self.key = key
        self.path = path
        self.mode = mode
    }
}

public struct ConfigMapVolumeSource: Codable, Sendable, Equatable {
    public var name: String?
    public var items: [KeyToPath]?
    public var defaultMode: Int?
    public var optional: Bool?
    public init(name: String) { self.name = name }
}

public struct SecretVolumeSource: Codable, Sendable, Equatable {
    public var secretName: String?
    public var items: [KeyToPath]?
    public var defaultMode: Int?
    public var optional: Bool?
    public init(secretName: String) { self.secretName = secretName }
}

public struct DownwardAPIVolumeFile: Codable, Sendable, Equatable {
    public var path: String
    public var fieldRef: ObjectFieldSelector?
    public var resourceFieldRef: ResourceFieldSelector?
    public var mode: Int?
    public init(path: String) { self.path = path }
}

public struct DownwardAPIVolumeSource: Codable, Sendable, Equatable {
    public var items: [DownwardAPIVolumeFile]?
    public var defaultMode: Int?
    public init() {}
}

/// `projected`: ConfigMaps, Secrets and downward API files in one directory.
public struct ProjectedVolumeSource: Codable, Sendable, Equatable {
    public struct Projection: Codable, Sendable, Equatable {
        public struct Named: Codable, Sendable, Equatable {
            public var name: String?
            public var items: [KeyToPath]?
            public var optional: Bool?
            public init(name: String?, items: [KeyToPath]? = nil, optional: Bool? = nil) {
                self.name = name
                self.items = items
                self.optional = optional
            }
        }
        public struct Downward: Codable, Sendable, Equatable {
            public var items: [DownwardAPIVolumeFile]?
            public init(items: [DownwardAPIVolumeFile]?) { self.items = items }
        }
        public var configMap: Named?
        public var secret: Named?
        public var downwardAPI: Downward?
        /// Refused: imc issues no service account tokens.
        public var serviceAccountToken: Opaque?
        /// Refused: imc issues no cluster trust bundles.
        public var clusterTrustBundle: Opaque?
        public init() {}
    }
    public var sources: [Projection]?
    public var defaultMode: Int?
    public init() {}
}

public struct VolumeMount: Codable, Sendable, Equatable {
    public var name: String
    public var mountPath: String
    public var readOnly: Bool?
    public var subPath: String?
    /// Refused: environment expansion in sub-paths is not done.
    public var subPathExpr: String?
    /// `None` is what imc does; another propagation is refused.
    public var mountPropagation: String?
    public init(name: String, mountPath: String) {
        self.name = name
        self.mountPath = mountPath
    }
}

/// A container's probe as Kubernetes writes it.
public struct ProbeSpec: Codable, Sendable, Equatable {
    public struct ExecAction: Codable, Sendable, Equatable {
        public var command: [String]?
        public init(command: [String]) { self.command = command }
    }
    public struct HTTPHeader: Codable, Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }
    public struct HTTPGetAction: Codable, Sendable, Equatable {
        public var path: String?
        /// A number, or the name of one of the container's ports.
        public var port: Scalar
        /// Refused: a probe is sent to the Pod's own address.
        public var host: String?
        public var scheme: String?
        public var httpHeaders: [HTTPHeader]?
        public init(path: String?, port: Scalar) {
            self.path = path
            self.port = port
        }
    }
    public struct TCPSocketAction: Codable, Sendable, Equatable {
        public var port: Scalar
        /// Refused: a probe connects to the Pod's own address.
        public var host: String?
        public init(port: Scalar) { self.port = port }
    }
    public var exec: ExecAction?
    public var httpGet: HTTPGetAction?
    public var tcpSocket: TCPSocketAction?
    /// Refused: gRPC probes are not built.
    public var grpc: Opaque?
    public var initialDelaySeconds: Int?
    public var periodSeconds: Int?
    public var timeoutSeconds: Int?
    public var successThreshold: Int?
    public var failureThreshold: Int?
    /// Refused: the Pod's own grace period is used.
    public var terminationGracePeriodSeconds: Int?
    public init() {}
}

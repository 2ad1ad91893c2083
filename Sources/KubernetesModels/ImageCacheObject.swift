/// The `ImageCache` object of `eks.cloud.tencent.com/v1` (the seed's custom resource): `spec` is
/// what was asked for, `status` what imc made of it. Its schema is the CRD document the door
/// serves; a spec is checked against that before it is read into `ImageCacheSpec`.
public struct ImageCacheObject: Codable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMeta
    public var spec: ImageCacheSpec
    public var status: ImageCacheStatus?

    public init(apiVersion: String, kind: String, metadata: ObjectMeta, spec: ImageCacheSpec, status: ImageCacheStatus?) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct ImageCacheSpec: Codable, Sendable, Equatable {
    public var images: [String]
    /// GiB.
    public var imageCacheSize: Int?
    public var retentionDays: Int?
    public var refreshIntervalMinutes: Int?
    public var platform: String?
    /// `namespace/name` of the Secrets the images are pulled with.
    public var imagePullSecrets: [String]?

    public init(
        images: [String], imageCacheSize: Int? = nil, retentionDays: Int? = nil, refreshIntervalMinutes: Int? = nil,
        platform: String? = nil, imagePullSecrets: [String]? = nil
    ) {
        self.images = images
        self.imageCacheSize = imageCacheSize
        self.retentionDays = retentionDays
        self.refreshIntervalMinutes = refreshIntervalMinutes
        self.platform = platform
        self.imagePullSecrets = imagePullSecrets
    }

    /// The pull secrets, none when unsaid.
    public var pullSecrets: [String] { imagePullSecrets ?? [] }
}

/// The server's: not read from a client.
public struct ImageCacheStatus: Codable, Sendable, Equatable {
    /// The cache's id (`imc-...`) and phase as the Cloud API names them.
    public var imcId: String
    public var imcPhase: String
    public var observedGeneration: Int
    public var snapshotId: String?
    /// Percent of the build done.
    public var progress: Int?
    public var lastMatchedTime: String?
    public var expireTime: String?
    /// `Ready` (built; `kubectl wait --for=condition=Ready` waits for it) and `Serving` (a
    /// snapshot serves instances).
    public var conditions: [Condition]

    public init(imcId: String, imcPhase: String, observedGeneration: Int, conditions: [Condition] = []) {
        self.imcId = imcId
        self.imcPhase = imcPhase
        self.observedGeneration = observedGeneration
        self.conditions = conditions
    }

    public init(from decoder: any Decoder) throws {
        imcId = ""
        imcPhase = ""
        observedGeneration = 0
        conditions = []
    }
}

/// `metav1.Condition`.
public struct Condition: Codable, Sendable, Equatable {
    public var type: String
    /// `True` or `False`.
    public var status: String
    public var reason: String
    public var message: String
    public var lastTransitionTime: String

    public init(type: String, _ value: Bool, reason: String, message: String, lastTransitionTime: String) {
        self.type = type
        status = value ? "True" : "False"
        self.reason = reason
        self.message = message
        self.lastTransitionTime = lastTransitionTime
    }
}

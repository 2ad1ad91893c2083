import Foundation
import IMCCache
import IMCContent
import IMCModel
import IMCOS
import IMCObservability
import IMCPull
import IMCRegistry
import IMCUnpack
import Logging

/// The part of a build that touches what a tenant chose (its registry, its layers): every image
/// pulled onto the mounted build disk and the disk's manifest written. It is all a build sandbox
/// runs (`imc build-sandbox`), so it takes everything it needs in this one value, sent as a
/// file, and reports back only through `BuildMessage`s.
public struct BuildJob: Codable, Sendable {
    public struct Credential: Codable, Sendable {
        public var server: String
        public var username: String
        public var password: String
    }

    public var cacheID: String
    public var size: Int
    public var images: [String]
    public var credentials: [Credential]
    public var plainHTTPHosts: [String]
    public var skipVerifyHosts: [String]
    public var stallSeconds: Int
    public var connectSeconds: Int
    /// Networks the registry addresses may be in although the rules refuse them; nil: every
    /// address is allowed (only tests that build in-process with open clients).
    public var allowedNetworks: [String]?
    /// The platform to pull (`linux/arm64`); the host's when nil.
    public var platform: String?

    public init(cache: ImageCache, options: RegistryClientOptions) {
        cacheID = cache.id
        size = cache.size
        images = cache.images
        credentials = cache.credentials.map { Credential(server: $0.server, username: $0.username, password: $0.password) }
        plainHTTPHosts = cache.registryHttpEndPointList
        skipVerifyHosts = cache.registrySkipVerifyList
        stallSeconds = Int(options.stallTimeout.nanoseconds / 1_000_000_000)
        connectSeconds = Int(options.connectTimeout.nanoseconds / 1_000_000_000)
        allowedNetworks = options.addressPolicy.isOpen ? nil : options.addressPolicy.allowed.map(\.description)
        platform = cache.platform
    }

    /// The platform the images are pulled for.
    var wanted: Platform { platform.flatMap { try? Platform(parsing: $0) } ?? .host }

    /// The registry client's options, rebuilt where the job runs (the host's addresses are
    /// looked up there too: the sandbox shares the host's network).
    var clientOptions: RegistryClientOptions {
        var options = RegistryClientOptions()
        options.stallTimeout = .seconds(Int64(stallSeconds))
        options.connectTimeout = .seconds(Int64(max(1, connectSeconds)))
        if let allowedNetworks { options.addressPolicy = .service(allowing: allowedNetworks.compactMap(CIDR.init)) }
        return options
    }

    /// Pulls every image into `root` (the mounted build disk) and writes its manifest; each
    /// step is `emit`ted. Throws `BuildFailure` with the reason and message of the event.
    public func run(root: String, logger: Logger, emit: @escaping @Sendable (BuildMessage) -> Void) async throws(BuildFailure) {
        let config = RegistryConfig(
            credentials: credentials.map { RegistryCredential(server: $0.server, username: $0.username, password: $0.password) },
            plainHTTPHosts: Set(plainHTTPHosts), skipVerifyHosts: Set(skipVerifyHosts))
        let client = RegistryClient(config: config, options: clientOptions, logger: logger)
        defer { Task { try? await client.shutdown() } }
        do {
            let store = try OCILayoutStore(root: root + "/images")
            let puller = Puller(client: client, store: store, layers: try LayerStore(root: root + "/layers"), logger: logger)
            var manifest = CacheDiskManifest(cacheID: cacheID)
            let sizes = await compressedSizes(client: client)
            let meter = BuildProgressMeter(sizes: sizes, emit: emit)
            for (n, image) in images.enumerated() {
                try Task.checkCancellation()
                let reference = try ImageReference(parsing: image)
                emit(BuildMessage(.pulling, "Pulling image \(image)"))
                let t0 = ContinuousClock.now
                meter.start(image: n)
                var options = PullOptions()
                options.platform = platform == nil ? nil : wanted
                let result = try await puller.pull(reference, options: options, progress: { meter.observe($0) })
                meter.finish(image: n)
                let downloaded = result.layers.filter { !$0.reused }.reduce(0) { $0 + $1.size }
                var pulled = BuildMessage(
                    .pulled,
                    String(
                        format: "Pulled image %@ (%@, %@): %lld bytes downloaded, %lld unpacked, in %.1f s", image,
                        result.manifestDigest.description, result.platform, downloaded, result.unpackedBytes,
                        (ContinuousClock.now - t0).seconds))
                pulled.downloadedBytes = downloaded
                pulled.image = reference.description
                pulled.layers = Dictionary(result.layers.map { ($0.digest.description, $0.size) }, uniquingKeysWith: { a, _ in a })
                pulled.digest = (try? store.resolve(reference.description)?.digest.description) ?? result.manifestDigest.description
                emit(pulled)
                manifest.images.append(
                    .init(
                        reference: image, normalized: reference.description, manifestDigest: result.manifestDigest.description,
                        platform: result.platform,
                        layers: result.layers.map {
                            .init(
                                digest: $0.digest, diffID: $0.diffID, mediaType: $0.mediaType, size: $0.size, unpackedSize: $0.unpackedSize)
                        }))
            }
            try AtomicFile.write(try manifest.encoded(), to: root + "/" + CacheDiskManifest.fileName)
        } catch is CancellationError {
            throw BuildFailure(.buildFailed, "Build stopped")
        } catch {
            let pull = PullError.from(error)
            if pull.code == .diskFull {
                let needed = await estimateGiB(client: client)
                throw BuildFailure(
                    .diskTooSmall,
                    "The images do not fit in ImageCacheSize \(size) GiB: they need about \(needed) GiB unpacked. Ask for ImageCacheSize \(needed) or more."
                )
            }
            throw BuildFailure(Self.reason(for: pull), "Build failed: \(pull.message)")
        }
    }

    static func reason(for error: PullError) -> CacheEventReason {
        if let cause = error.cause as? RegistryError {
            if cause.code == .addressRefused { return .registryRefused }
            if cause.code == .stalled { return .registryStalled }
        }
        switch error.code {
        case .notFound: return .imageNotFound
        case .unauthorized: return .registryUnauthorized
        case .unreachable: return .registryUnreachable
        default: return .pullFailed
        }
    }

    /// Each image's compressed layers together, from the registry's manifests (nil where it
    /// could not be read: the pull says why).
    func compressedSizes(client: RegistryClient) async -> [Int64?] {
        var sizes: [Int64?] = []
        for image in images {
            guard let ref = try? ImageReference(parsing: image), var fetched = try? await client.fetchManifest(ref) else {
                sizes.append(nil)
                continue
            }
            if case .index(let index) = fetched.document,
                let entry = index.manifests.first(where: { $0.platform.map(wanted.matches) ?? false }),
                let m = try? await client.fetchManifest(ref, reference: entry.digest.description)
            {
                fetched = m
            }
            if case .manifest(let m) = fetched.document { sizes.append(m.layers.reduce(0) { $0 + $1.size }) } else { sizes.append(nil) }
        }
        return sizes
    }

    /// About how many GiB the images need unpacked: their compressed layers (from the
    /// registry's manifests) times 3, plus a tenth for the filesystem.
    func estimateGiB(client: RegistryClient) async -> Int {
        let compressed = await compressedSizes(client: client).reduce(0) { $0 + ($1 ?? 0) }
        let bytes = Double(compressed) * 3 * 1.1
        return max(size * 2, Int((bytes / Double(1 << 30)).rounded(.up)))
    }
}

/// One step of a build job, as the job reports it (a line of JSON on the sandbox's output).
public struct BuildMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case pulling, pulled, failed, done
        /// How far the pulls have come: `percent`.
        case progress
    }
    public var kind: Kind
    public var message: String
    /// For `failed`: the `CacheEventReason` of the failure.
    public var reason: String?
    /// For `pulled`: the bytes downloaded.
    public var downloadedBytes: Int64?
    /// For `progress`: 0-100.
    public var percent: Int?
    /// For `pulled`: the image (normalised) and the digest its reference resolved to.
    public var image: String?
    public var digest: String?
    /// For `pulled`: the image's layers (compressed digest -> size), which instances of other
    /// images that share them may take from the cache's disk.
    public var layers: [String: Int64]?

    public init(_ kind: Kind, _ message: String, reason: String? = nil) {
        self.kind = kind
        self.message = message
        self.reason = reason
    }

    /// The marker a message line starts with; the sandbox's other output is its log.
    public static let marker = "imc-build "

    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Self.marker + String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public init?(line: String) {
        guard line.hasPrefix(Self.marker),
            let decoded = try? JSONDecoder().decode(BuildMessage.self, from: Data(line.dropFirst(Self.marker.count).utf8))
        else { return nil }
        self = decoded
    }
}

/// Why a build job failed: the reason and message of the cache's event.
public struct BuildFailure: Error, Sendable {
    public let reason: CacheEventReason
    public let message: String

    public init(_ reason: CacheEventReason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

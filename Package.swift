// swift-tools-version: 6.0
// imc: container image caches. Layers point one way: pure values at the bottom (IMCModel, IMCCache,
// IMCInstance, IMCBilling, IMCAPI), I/O adapters above them (IMCOS, IMCCompression, IMCContent,
// IMCUnpack, IMCRegistry, IMCDisks, IMCRuntime, IMCStore, IMCObservability), orchestration
// (IMCPull, IMCService), then the doors (IMCDoors, IMCCloudAPI, IMCConsole, the `imc` command).
// See docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "imc",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "imc", targets: ["imc"]),
        .executable(name: "imc-bench", targets: ["imc-bench"]),
        .executable(name: "imc-nfs", targets: ["imc-nfs"]),
        .library(name: "IMCPull", targets: ["IMCPull"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // C shims: system calls Swift cannot reach directly (openat2, makedev).
        .target(name: "CIMCSys", path: "Sources/CLibraries/CIMCSys"),
        .systemLibrary(name: "CZlib", path: "Sources/CLibraries/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CLibraries/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CIsal", path: "Sources/CLibraries/CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        // librbd and librados (Debian's librbd-dev): Ceph RBD images, snapshots and clones.
        .systemLibrary(name: "CRBD", path: "Sources/CLibraries/CRBD", providers: [.apt(["librbd-dev", "librados-dev"])]),

        // An NFS export as a FUSE filesystem over libnfs (Debian's libnfs-dev and libfuse3-dev): one
        // process per NFS volume, started by an instance's run (`InstanceRun+NFS`).
        .executableTarget(
            name: "imc-nfs", path: "Sources/NFSMount", linkerSettings: [.linkedLibrary("nfs"), .linkedLibrary("fuse3")]),

        // The operating system, one way: commands (swift-subprocess), long-running children,
        // mounts and the mount table, files written whole, the pool for blocking work.
        .target(
            name: "IMCOS",
            dependencies: [
                "CIMCSys", .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Sources/OS"),

        // Documents: JSON and YAML read into JSONValue (bounded), and the one strict decoder every
        // input goes through, whose problems name the field's path.
        .target(name: "IMCDocuments", dependencies: [.product(name: "Yams", package: "Yams")], path: "Sources/Documents"),

        // Pure values: references, digests, platforms, manifests, configs, credentials. No I/O.
        .target(name: "IMCModel", dependencies: ["IMCDocuments"], path: "Sources/Model"),

        // I/O adapters.
        .target(
            name: "IMCCompression",
            dependencies: ["CZlib", "CZstd", "CIsal", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Compression"),
        .target(
            name: "IMCContent",
            dependencies: ["IMCModel", "IMCOS", "CIMCSys", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Content"),
        .target(
            name: "IMCUnpack",
            dependencies: ["IMCModel", "IMCCompression", "IMCOS", "CIMCSys"],
            path: "Sources/Unpack"),
        .target(
            name: "IMCRegistry",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                "IMCModel", "IMCCompression",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Registry"),

        // Pure values of the service: image caches, their events, validation, matching; the Cloud
        // API's signature, envelope and error codes.
        .target(name: "IMCCache", dependencies: ["IMCModel"], path: "Sources/Cache"),
        .target(
            name: "IMCAPI",
            dependencies: ["IMCDocuments", "IMCModel", "IMCCache", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/API"),

        // Disks and snapshots: sparse ext4 disk images, loop mounts, reflink snapshots in an XFS
        // pool; or RBD images, protected snapshots and copy-on-write clones in a Ceph pool.
        .target(
            name: "IMCDisks",
            dependencies: ["CIMCSys", "CRBD", "IMCOS", "IMCModel", "IMCCache", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Disks"),

        // I/O adapter: instances' networks (a VPC's bridge, a subnet's /24, veths) and the host's
        // firewall (security groups, ports bound to their instances' addresses, connection caps).
        .target(
            name: "IMCNetworking", dependencies: ["CIMCSys", "IMCModel", "IMCOS", "IMCRuntime"], path: "Sources/Networking"),

        // Containers: OCI runtime bundles from image configs, overlay root filesystems, runc.
        .target(name: "IMCRuntime", dependencies: ["IMCModel", "IMCOS", "CIMCSys"], path: "Sources/Runtime"),

        // Pure values of instances: containers, their states, phases and events.
        .target(name: "IMCInstance", dependencies: ["IMCModel", "IMCCache", "IMCDocuments"], path: "Sources/Instance"),
        // Kubernetes' object types as Codable values (Pod, ObjectMeta, ...); nothing of imc's.
        .target(name: "IMCKubernetesModels", path: "Sources/KubernetesModels"),
        // Kubernetes' protobuf forms imc reads and writes (kubectl's typed bodies, the OpenAPI v2
        // document), generated by swift-protobuf from protos/ (scripts/generate-protos.sh).
        .target(
            name: "IMCKubernetesProtobuf", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/KubernetesProtobuf"),
        // A Pod as imc takes it through any door: its walls, and the instance request it asks for.
        .target(
            name: "IMCPods", dependencies: ["IMCKubernetesModels", "IMCInstance", "IMCCache", "IMCDocuments", "IMCModel"],
            path: "Sources/Pods"),

        // What an operator watches: metrics with bounded labels, in Prometheus' text format.
        .target(
            name: "IMCObservability",
            dependencies: [
                "IMCCache",
                "IMCInstance", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/Observability"),

        // Pure values of the bill: metered usage, price lists, line items, in decimal.
        .target(name: "IMCBilling", path: "Sources/Billing"),

        // Persistence: the service's state (caches, instances, disks, usage, history) in SQLite,
        // the embedded default, or PostgreSQL, shared by replicas and nodes.
        .target(
            name: "IMCStore",
            dependencies: [
                "IMCCache", "IMCInstance", "IMCBilling", "IMCModel", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Store"),

        // Orchestration, one target per part of the service (Sources/Service/...): what they share
        // (errors that name their field, quotas, id ranges, wake-ups), metering and bills, the image
        // cache life cycle and its builds, instances and their runs, and nodes.
        .target(
            name: "IMCServiceSupport", dependencies: ["IMCDocuments", "IMCInstance", "IMCModel", "IMCStore", "IMCOS"],
            path: "Sources/Service/Support"),
        .target(
            name: "IMCBillingService",
            dependencies: [
                "IMCServiceSupport", "IMCBilling", "IMCModel", "IMCStore", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Service/Billing"),
        .target(
            name: "IMCCaches",
            dependencies: [
                "IMCServiceSupport", "IMCBillingService", "IMCDocuments",
                "IMCCache", "IMCStore", "IMCModel", "IMCDisks", "IMCPull", "IMCRegistry", "IMCContent", "IMCUnpack", "IMCRuntime",
                "IMCInstance", "IMCObservability", "IMCOS",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Service/Caches"),
        .target(
            name: "IMCInstances",
            dependencies: [
                "IMCNetworking",
                "IMCServiceSupport", "IMCBillingService", "IMCCaches", "IMCDocuments",
                "IMCCache", "IMCStore", "IMCModel", "IMCDisks", "IMCPull", "IMCRegistry", "IMCContent", "IMCUnpack", "IMCRuntime",
                "IMCInstance", "IMCObservability", "IMCBilling", "IMCOS", "CIMCSys",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Service/Instances"),
        .target(
            name: "IMCNodes",
            dependencies: [
                "IMCServiceSupport", "IMCInstances", "IMCInstance", "IMCPull", "IMCStore",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Service/Nodes"),

        // Orchestration: a pull, from reference to overlay-ready layer directories.
        .target(
            name: "IMCPull",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "IMCModel", "IMCRegistry", "IMCContent", "IMCUnpack", "IMCCompression", "IMCOS",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Pull"),

        // A client of the Cloud API (the CLI's `cache` and `apply` commands) and the ImageCache YAML.
        .target(
            name: "IMCClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "IMCAPI", "IMCModel", "IMCDocuments", "IMCInstance", "IMCKubernetesModels", "IMCPods",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"), .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/Client"),

        // What every door shares: the request context and its middleware (request ids in the logs,
        // HTTP metrics), the accounts and their keys, the service's configuration file.
        .target(
            name: "IMCDoors",
            dependencies: [
                "IMCStore", "IMCOS", "IMCObservability", "IMCModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Doors"),

        // The composition root's reading of `imc serve --config`: the file's shape, through the
        // strict decoder, into the settings every part is built with.
        .target(
            name: "IMCConfiguration",
            dependencies: [
                "IMCNetworking",
                "IMCDoors", "IMCServiceSupport", "IMCCaches", "IMCInstances", "IMCBilling", "IMCInstance", "IMCRegistry", "IMCRuntime",
                "IMCDocuments",
            ],
            path: "Sources/Configuration"),

        // Doors: the Cloud API 3.0 (TC3-signed, the real service's envelope and codes).
        .target(
            name: "IMCCloudAPI",
            dependencies: [
                "IMCDocuments",
                "IMCAPI", "IMCDoors", "IMCServiceSupport", "IMCBillingService", "IMCCaches", "IMCInstances", "IMCStore", "IMCCache",
                "IMCInstance", "IMCObservability", "IMCBilling", "IMCModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/CloudAPI"),

        // Doors: the Kubernetes API for imc's own objects (kubectl, client libraries).
        .target(
            name: "IMCKubernetes",
            dependencies: [
                "IMCKubernetesProtobuf",
                "IMCDoors", "IMCServiceSupport", "IMCCaches", "IMCInstances", "IMCStore", "IMCCache", "IMCModel", "IMCInstance",
                "IMCDocuments", "IMCKubernetesModels",
                "IMCPods",
                .product(name: "Hummingbird", package: "hummingbird"),
                "IMCRuntime",
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/Kubernetes"),

        // Doors: the web console (Mustache templates that escape by default).
        .target(
            name: "IMCConsole",
            dependencies: [
                "IMCDoors", "IMCServiceSupport", "IMCBillingService", "IMCCaches", "IMCInstances", "IMCStore", "IMCCache", "IMCInstance",
                "IMCBilling", "IMCModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            path: "Sources/Console"),

        // Doors.
        .executableTarget(
            name: "imc",
            dependencies: [
                "IMCNetworking",
                "IMCConfiguration",
                "IMCContent", "IMCUnpack",
                "IMCPull", "IMCCloudAPI", "IMCDoors", "IMCServiceSupport", "IMCBillingService", "IMCCaches", "IMCInstances", "IMCNodes",
                "IMCStore", "IMCDisks", "IMCClient", "IMCAPI", "IMCInstance",
                "IMCCache",
                "IMCRegistry", "IMCConsole", "IMCKubernetes", "IMCObservability", "IMCModel", "IMCOS", "IMCRuntime", "IMCDocuments",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/CLI"),
        .executableTarget(
            name: "imc-bench",
            dependencies: [
                "IMCModel", "IMCRegistry",
                "IMCPull", "IMCTestSupport", "IMCClient", "IMCAPI", "IMCDisks", "IMCStore", "IMCCache", "IMCOS", "IMCRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/Bench"),

        // Test bed: images made from code, real and scriptable registries.
        .target(
            name: "IMCTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "IMCModel", "IMCRegistry", "IMCCompression", "IMCPull", "CIMCSys",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/TestSupport"),

        .testTarget(
            name: "IMCConfigurationTests", dependencies: ["IMCNetworking", "IMCConfiguration", "IMCDoors", "IMCRuntime"],
            path: "Tests/ConfigurationTests"),
        .testTarget(name: "IMCDocumentsTests", dependencies: ["IMCDocuments"], path: "Tests/DocumentsTests"),
        .testTarget(
            name: "IMCPodsTests", dependencies: ["IMCPods", "IMCKubernetesModels", "IMCInstance", "IMCDocuments"], path: "Tests/PodsTests"),
        .testTarget(name: "IMCModelTests", dependencies: ["IMCModel"], path: "Tests/ModelTests"),
        .testTarget(name: "IMCOSTests", dependencies: ["IMCOS", "IMCTestSupport"], path: "Tests/OSTests"),
        .testTarget(name: "IMCCacheTests", dependencies: ["IMCCache"], path: "Tests/CacheTests"),
        .testTarget(
            name: "IMCInstanceTests", dependencies: ["IMCInstance", "IMCCache", "IMCModel", "IMCDocuments"], path: "Tests/InstanceTests"),
        .testTarget(name: "IMCBillingTests", dependencies: ["IMCBilling"], path: "Tests/BillingTests"),
        .testTarget(
            name: "IMCRuntimeTests", dependencies: ["IMCRuntime", "IMCOS", "IMCModel", "IMCTestSupport"],
            path: "Tests/RuntimeTests"),
        .testTarget(
            name: "IMCNetworkingTests", dependencies: ["IMCNetworking", "IMCRuntime", "IMCOS", "IMCModel", "IMCTestSupport"],
            path: "Tests/NetworkingTests"),
        .testTarget(
            name: "IMCServiceTests",
            dependencies: [
                "IMCNetworking",
                "IMCModel", "IMCRegistry", "IMCRuntime", .product(name: "Logging", package: "swift-log"), "IMCServiceSupport",
                "IMCBillingService", "IMCCaches", "IMCInstances", "IMCStore",
                "IMCCache", "IMCInstance", "IMCBilling", "IMCOS", "IMCDisks", "IMCTestSupport",
            ],
            path: "Tests/ServiceTests"),
        .testTarget(
            name: "IMCCloudAPITests",
            dependencies: [
                "IMCDocuments",
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Hummingbird", package: "hummingbird"),
                "IMCCloudAPI", "IMCDoors", "IMCAPI", "IMCInstance", "IMCCaches", "IMCRuntime", "IMCStore", "IMCObservability",
                "IMCTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/CloudAPITests"),
        .testTarget(
            name: "IMCKubernetesTests",
            dependencies: [
                "IMCKubernetesProtobuf",
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Hummingbird", package: "hummingbird"),
                "IMCDocuments",
                "IMCKubernetes", "IMCDoors", "IMCCaches", "IMCStore", "IMCCache", "IMCModel", "IMCTestSupport",
                "IMCKubernetesModels", "IMCInstance", .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/KubernetesTests"),
        .testTarget(
            name: "IMCConsoleTests",
            dependencies: [
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Hummingbird", package: "hummingbird"),
                "IMCConsole", "IMCDoors", "IMCCaches", "IMCStore", "IMCTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/ConsoleTests"),
        .testTarget(
            name: "IMCAPITests", dependencies: ["IMCAPI", "IMCDocuments", "IMCClient", "IMCDisks", "IMCOS", "IMCTestSupport"],
            path: "Tests/APITests"),
        .testTarget(name: "IMCDisksTests", dependencies: ["IMCDisks", "IMCOS", "IMCTestSupport"], path: "Tests/DisksTests"),
        .testTarget(
            name: "IMCStoreTests",
            dependencies: [
                "IMCStore", "IMCCache", "IMCModel", "IMCInstance", "IMCBilling", "IMCTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Tests/StoreTests"),
        .testTarget(
            name: "IMCCompressionTests", dependencies: ["IMCCompression"], path: "Tests/CompressionTests"),
        .testTarget(
            name: "IMCUnpackTests", dependencies: ["IMCCompression", "IMCUnpack", "IMCTestSupport"], path: "Tests/UnpackTests"),
        .testTarget(
            name: "IMCContentTests", dependencies: ["IMCModel", "IMCContent", "IMCTestSupport"], path: "Tests/ContentTests"),
        .testTarget(
            name: "IMCRegistryTests",
            dependencies: ["IMCModel", .product(name: "NIOCore", package: "swift-nio"), "IMCRegistry", "IMCTestSupport"],
            path: "Tests/RegistryTests"),
        .testTarget(
            name: "IMCPullTests",
            dependencies: ["IMCCompression", "IMCContent", "IMCModel", "IMCRegistry", "IMCUnpack", "IMCPull", "IMCTestSupport"],
            path: "Tests/PullTests"),
    ],
    swiftLanguageModes: [.v6]
)

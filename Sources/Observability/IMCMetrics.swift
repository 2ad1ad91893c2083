import CoreMetrics
import IMCCache
import IMCInstance

/// The metrics imc records, declared once: each one's name, kind, help, label keys and the values
/// each label may take. Recording goes through swift-metrics (any backend; `MetricsExporter`
/// serves Prometheus' text), and every label value is one of the declared ones or `other`: no id,
/// reference or user input ever becomes a label.
public enum IMCMetrics {
    public enum Kind: Sendable {
        case counter
        case histogram(buckets: [Double])
        case gauge
    }

    public struct Declaration: Sendable {
        public var name: String
        public var kind: Kind
        public var help: String
        /// Label keys in order, each with the values it may take (nil: any value the code passes
        /// through `bounded`, itself from a closed set).
        public var labels: [(key: String, values: [String])]
    }

    /// Seconds buckets for start-up and build durations.
    public static let secondsBuckets: [Double] = [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
    public static let buildOutcomes = ["ready", "failed", "update_failed"]
    public static let matchResults = ["used", "not_matched", "mismatch", "not_found", "off"]
    public static let startKinds = ["cached", "cold"]
    public static let httpMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    public static let builds = Declaration(
        name: "imc_builds_total", kind: .counter, help: "Image cache builds by outcome.", labels: [("outcome", buildOutcomes)])
    public static let buildDuration = Declaration(
        name: "imc_build_duration_seconds", kind: .histogram(buckets: secondsBuckets),
        help: "Image cache build time, builder start to the end, by outcome.", labels: [("outcome", buildOutcomes)])
    public static let pulledBytes = Declaration(
        name: "imc_pulled_bytes_total", kind: .counter, help: "Compressed bytes downloaded from registries (builds and instances).",
        labels: [])
    public static let matches = Declaration(
        name: "imc_matches_total", kind: .counter, help: "Instances' image cache matching by result.", labels: [("result", matchResults)])
    public static let startup = Declaration(
        name: "imc_instance_startup_seconds", kind: .histogram(buckets: secondsBuckets),
        help: "Instance creation to its containers' processes running, cached (from an image cache) or cold (images pulled).",
        labels: [("kind", startKinds)])
    public static let apiRequests = Declaration(
        name: "imc_api_requests_total", kind: .counter, help: "Cloud API requests by action and result code.",
        labels: [("action", []), ("code", [])])
    public static let httpRequests = Declaration(
        name: "imc_http_requests_total", kind: .counter, help: "HTTP requests by route, method and status class.",
        labels: [("route", []), ("method", httpMethods), ("status", ["1xx", "2xx", "3xx", "4xx", "5xx"])])
    public static let caches = Declaration(
        name: "imc_caches", kind: .gauge, help: "Image caches by status, every account.",
        labels: [("status", CacheStatus.allCases.map(\.rawValue))])
    public static let instances = Declaration(
        name: "imc_instances", kind: .gauge, help: "Container instances by status, every account.",
        labels: [("status", InstanceStatus.allCases.map(\.rawValue))])
    public static let poolFreeBytes = Declaration(
        name: "imc_pool_free_bytes", kind: .gauge, help: "Free space of the disk pool (disks and snapshots).", labels: [])
    public static let dataRootFreeBytes = Declaration(
        name: "imc_data_root_free_bytes", kind: .gauge, help: "Free space of the data root's filesystem.", labels: [])

    /// Why an instance's port drops what it sends (`PortDrop`'s names, declared here too: the
    /// metrics know nothing of the runtime).
    public static let portDropReasons = ["source-mac", "arp", "source-ip", "protocol", "connection-limit"]
    public static let portDrops = Declaration(
        name: "imc_instance_port_drops_total", kind: .counter,
        help: "Frames and new connections instances sent that their ports dropped, by reason (another source address, "
            + "ARP claiming another address, a protocol other than IPv4 and ARP, past the connection cap).",
        labels: [("reason", portDropReasons)])

    public static let all: [Declaration] = [
        builds, buildDuration, pulledBytes, matches, startup, apiRequests, httpRequests, caches, instances, poolFreeBytes,
        dataRootFreeBytes, portDrops,
    ]

    /// `value` if it is one of `allowed`, else `other`: how labels stay bounded.
    public static func bounded(_ value: String, _ allowed: some Sequence<String>) -> String {
        allowed.contains(value) ? value : "other"
    }

    // MARK: - Recording

    /// A build ended with `outcome` (`ready`, `failed`, `update_failed`) after `seconds`.
    public static func buildFinished(outcome: String, seconds: Double) {
        let o = bounded(outcome, buildOutcomes)
        Counter(label: builds.name, dimensions: [("outcome", o)]).increment()
        Recorder(label: buildDuration.name, dimensions: [("outcome", o)], aggregate: true).record(seconds)
    }

    /// Compressed bytes downloaded from a registry.
    public static func pulled(bytes: Int64) {
        Counter(label: pulledBytes.name).increment(by: Int(bytes))
    }

    /// An instance's image cache matching ended with `outcome`.
    public static func matched(_ outcome: CacheOutcome) {
        Counter(label: matches.name, dimensions: [("result", matchLabel(outcome))]).increment()
    }

    static func matchLabel(_ outcome: CacheOutcome) -> String {
        switch outcome {
        case .used: "used"
        case .notMatched: "not_matched"
        case .mismatch: "mismatch"
        case .notFound: "not_found"
        case .off: "off"
        }
    }

    /// An instance's containers run, `seconds` after its creation.
    public static func started(cached: Bool, seconds: Double) {
        Recorder(label: startup.name, dimensions: [("kind", cached ? "cached" : "cold")], aggregate: true).record(seconds)
    }

    /// A Cloud API request answered `code`; both from closed sets the door passes.
    public static func apiRequest(action: String, code: String, actions: some Sequence<String>, codes: some Sequence<String>) {
        Counter(label: apiRequests.name, dimensions: [("action", bounded(action, actions)), ("code", bounded(code, codes))]).increment()
    }

    /// An HTTP request to `route` (a route pattern, never a raw path) answered `status`.
    public static func httpRequest(route: String, method: String, status: Int) {
        let statusClass = (1...5).contains(status / 100) ? "\(status / 100)xx" : "5xx"
        Counter(
            label: httpRequests.name, dimensions: [("route", route), ("method", bounded(method, httpMethods)), ("status", statusClass)]
        ).increment()
    }

    /// The gauges of state, set when the metrics are read.
    public static func setCounts(caches byStatus: [String: Int], instances instancesByStatus: [String: Int]) {
        for status in caches.labels[0].values { Gauge(label: caches.name, dimensions: [("status", status)]).record(byStatus[status] ?? 0) }
        for status in instances.labels[0].values {
            Gauge(label: instances.name, dimensions: [("status", status)]).record(instancesByStatus[status] ?? 0)
        }
    }

    /// Instances' ports dropped `count` more frames or connections for `reason`.
    public static func portDropped(reason: String, count: UInt64) {
        Counter(label: portDrops.name, dimensions: [("reason", bounded(reason, portDropReasons))]).increment(by: Int(count))
    }

    public static func setFreeSpace(pool: Int64?, dataRoot: Int64?) {
        if let pool { Gauge(label: poolFreeBytes.name).record(pool) }
        if let dataRoot { Gauge(label: dataRootFreeBytes.name).record(dataRoot) }
    }
}

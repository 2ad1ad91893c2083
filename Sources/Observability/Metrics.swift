import Foundation
import IMCInstance
import Synchronization

/// What an operator watches, in Prometheus' text format at `/metrics`. Labels are bounded by
/// construction: each metric declares the label values it accepts (outcomes, results, action
/// names, error codes), and anything else is counted as `other`, so that no id, reference or
/// user input becomes a label.
public final class Metrics: Sendable {
    public static let shared = Metrics()

    struct Series: Hashable {
        var name: String
        var labels: [String: String]
    }
    struct Histogram {
        var buckets: [Double]
        var counts: [Int]
        var sum: Double = 0
        var count = 0
    }
    struct State {
        var help: [String: (type: String, help: String)] = [:]
        var counters: [Series: Double] = [:]
        var histograms: [Series: Histogram] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// Seconds buckets for start-up and build durations.
    public static let secondsBuckets: [Double] = [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]

    public func describe(_ name: String, type: String, help: String) {
        state.withLock { $0.help[name] = (type, help) }
    }

    public func increment(_ name: String, by value: Double = 1, labels: [String: String] = [:]) {
        state.withLock { $0.counters[Series(name: name, labels: labels), default: 0] += value }
    }

    public func observe(_ name: String, _ value: Double, labels: [String: String] = [:], buckets: [Double] = Metrics.secondsBuckets) {
        state.withLock { s in
            let key = Series(name: name, labels: labels)
            var h = s.histograms[key] ?? Histogram(buckets: buckets, counts: Array(repeating: 0, count: buckets.count))
            for (i, bound) in h.buckets.enumerated() where value <= bound { h.counts[i] += 1 }
            h.sum += value
            h.count += 1
            s.histograms[key] = h
        }
    }

    /// `value` if it is one of `allowed`, else `other`: how labels stay bounded.
    public static func bounded(_ value: String, _ allowed: Set<String>) -> String { allowed.contains(value) ? value : "other" }

    /// The exposition text.
    public func render() -> String {
        let s = state.withLock { $0 }
        var names = Set(s.counters.keys.map(\.name)).union(s.histograms.keys.map(\.name))
        names.formUnion(s.help.keys)
        var out = ""
        for name in names.sorted() {
            if let h = s.help[name] { out += "# HELP \(name) \(h.help)\n# TYPE \(name) \(h.type)\n" }
            for (series, value) in s.counters.filter({ $0.key.name == name }).sorted(by: { Self.key($0.key) < Self.key($1.key) }) {
                out += "\(name)\(Self.labels(series.labels)) \(Self.number(value))\n"
            }
            for (series, h) in s.histograms.filter({ $0.key.name == name }).sorted(by: { Self.key($0.key) < Self.key($1.key) }) {
                for (i, bound) in h.buckets.enumerated() {
                    out += "\(name)_bucket\(Self.labels(series.labels.merging(["le": Self.number(bound)]) { $1 })) \(h.counts[i])\n"
                }
                out += "\(name)_bucket\(Self.labels(series.labels.merging(["le": "+Inf"]) { $1 })) \(h.count)\n"
                out += "\(name)_sum\(Self.labels(series.labels)) \(Self.number(h.sum))\n"
                out += "\(name)_count\(Self.labels(series.labels)) \(h.count)\n"
            }
        }
        return out
    }

    static func key(_ s: Series) -> String { s.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }

    static func labels(_ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return "" }
        let body = labels.sorted { $0.key < $1.key }.map { k, v in
            "\(k)=\"\(v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n"))\""
        }
        return "{" + body.joined(separator: ",") + "}"
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}

/// The metrics imc records, declared once with their help text and their label values.
public enum IMCMetrics {
    /// An instance's image cache matching ended with `outcome`.
    public static func matched(_ outcome: CacheOutcome, _ m: Metrics = .shared) {
        m.increment("imc_matches_total", labels: ["result": matchLabel(outcome)])
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
    public static func started(cached: Bool, seconds: Double, _ m: Metrics = .shared) {
        m.observe("imc_instance_startup_seconds", seconds, labels: ["kind": cached ? "cached" : "cold"])
    }

    public static let buildOutcomes: Set<String> = ["ready", "failed", "update_failed"]
    public static let matchResults: Set<String> = ["used", "not_matched", "mismatch", "not_found", "off"]
    public static let startKinds: Set<String> = ["cached", "cold"]

    public static func declare(_ m: Metrics = .shared) {
        m.describe("imc_builds_total", type: "counter", help: "Image cache builds by outcome.")
        m.describe("imc_build_duration_seconds", type: "histogram", help: "Image cache build time, builder start to the end, by outcome.")
        m.describe("imc_pulled_bytes_total", type: "counter", help: "Compressed bytes downloaded from registries (builds and instances).")
        m.describe("imc_matches_total", type: "counter", help: "Instances' image cache matching by result.")
        m.describe(
            "imc_instance_startup_seconds", type: "histogram",
            help: "Instance creation to its containers' processes running, cached (from an image cache) or cold (images pulled).")
        m.describe("imc_api_requests_total", type: "counter", help: "Cloud API requests by action and result code.")
    }
}

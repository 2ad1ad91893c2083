import CoreMetrics
import Prometheus

/// swift-metrics' backend for imc: swift-prometheus' registry, with each declared metric's help
/// text and buckets, and the text `/metrics` serves. Bootstrapped once per process, the first
/// time `shared` is used (by `imc serve` at start, by tests that read metrics).
public final class MetricsExporter: Sendable {
    public static let shared: MetricsExporter = {
        let exporter = MetricsExporter()
        MetricsSystem.bootstrap(exporter.factory)
        exporter.declare()
        return exporter
    }()

    public let registry = PrometheusCollectorRegistry()
    let factory: Factory

    init() { factory = Factory(registry: registry) }

    /// The exposition text (Prometheus 0.0.4).
    public func render() -> String { registry.emitToString() }

    /// Every declared series whose label values are few is made at once (at zero), so that it is
    /// listed before anything happened (a missing series reads as no data, not as nothing).
    func declare() {
        for d in IMCMetrics.all {
            let combinations = d.labels.reduce([[(String, String)]]([[]])) { partial, label in
                label.values.isEmpty ? [] : partial.flatMap { p in label.values.map { p + [(label.key, $0)] } }
            }
            for dimensions in combinations where d.labels.isEmpty || !dimensions.isEmpty {
                switch d.kind {
                case .counter: _ = factory.makeCounter(label: d.name, dimensions: dimensions)
                case .histogram: _ = factory.makeRecorder(label: d.name, dimensions: dimensions, aggregate: true)
                case .gauge: _ = factory.makeRecorder(label: d.name, dimensions: dimensions, aggregate: false)
                }
            }
        }
    }

    /// swift-metrics' factory over the registry, with the declarations' help and buckets.
    struct Factory: MetricsFactory {
        let registry: PrometheusCollectorRegistry
        let declarations: [String: IMCMetrics.Declaration]

        init(registry: PrometheusCollectorRegistry) {
            self.registry = registry
            declarations = Dictionary(IMCMetrics.all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        }

        func descriptor(_ label: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: Self.sanitized(label), unitName: "", helpText: declarations[label]?.help ?? "")
        }

        /// Prometheus names: letters, digits, underscores and colons.
        static func sanitized(_ name: String) -> String {
            String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
        }

        func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
            registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
        }

        func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
            registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
        }

        func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
            guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
            var buckets = IMCMetrics.secondsBuckets
            if case .histogram(let b) = declarations[label]?.kind { buckets = b }
            return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
        }

        func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
            registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
        }

        func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
            registry.makeDurationHistogram(
                descriptor: descriptor(label), labels: dimensions,
                buckets: IMCMetrics.secondsBuckets.map { .milliseconds(Int64($0 * 1000)) })
        }

        func destroyCounter(_ handler: any CounterHandler) {}
        func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
        func destroyRecorder(_ handler: any RecorderHandler) {}
        func destroyMeter(_ handler: any MeterHandler) {}
        func destroyTimer(_ handler: any TimerHandler) {}
    }
}

import Foundation
import Hummingbird
import IMCObservability

/// What an operator's tools read: `/metrics` (Prometheus' text), `/healthz` (the process
/// answers) and `/readyz` (it can serve: the database answers).
public struct OperationsRoutes: Sendable {
    let exporter: MetricsExporter
    let ready: @Sendable () async -> Bool
    /// Sets the gauges of state (counts by status, free space) before they are read.
    let refresh: @Sendable () async -> Void

    public init(exporter: MetricsExporter, ready: @escaping @Sendable () async -> Bool, refresh: @escaping @Sendable () async -> Void = {})
    {
        self.exporter = exporter
        self.ready = ready
        self.refresh = refresh
    }

    public func addRoutes(to router: Router<DoorContext>) {
        let ops = self
        router.get("metrics") { _, _ in
            await ops.refresh()
            return Self.text(ops.exporter.render(), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("healthz") { _, _ in Self.text("ok\n") }
        router.get("readyz") { _, _ in
            await ops.ready() ? Self.text("ready\n") : Self.text("not ready: the database does not answer\n", status: .serviceUnavailable)
        }
    }

    static func text(_ body: String, type: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import IMCConsole
import IMCObservability

/// Everything `imc serve` answers on its one port: the Cloud API (`POST /`), the console
/// (`/console`), `/metrics` (Prometheus), `/healthz` (the process answers) and `/readyz` (it can
/// serve: the database answers).
public struct Routes: Sendable {
    let api: CloudAPI
    let console: Console?
    let ready: @Sendable () -> Bool
    let metrics: Metrics

    public init(api: CloudAPI, console: Console? = nil, metrics: Metrics = .shared, ready: @escaping @Sendable () -> Bool) {
        self.api = api
        self.console = console
        self.metrics = metrics
        self.ready = ready
    }

    public func responder() -> some HTTPResponder<BasicRequestContext> {
        let routes = self
        return CallbackResponder<BasicRequestContext> { request, _ in try await routes.respond(to: request) }
    }

    func respond(to request: Request) async throws -> Response {
        let path = request.uri.path
        switch (request.method, path) {
        case (.get, "/metrics"):
            return Self.text(metrics.render(), type: "text/plain; version=0.0.4; charset=utf-8")
        case (.get, "/healthz"):
            return Self.text("ok\n")
        case (.get, "/readyz"):
            return ready() ? Self.text("ready\n") : Self.text("not ready: the database does not answer\n", status: .serviceUnavailable)
        default:
            if let console, path == "/console" || path.hasPrefix("/console/") { return try await console.respond(to: request) }
            return try await api.respond(to: request)
        }
    }

    static func text(_ body: String, type: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

import Foundation
import Hummingbird
import HummingbirdWebSocket
import IMCObservability
import Logging

/// The request context every door's routes share: Hummingbird's core, and the request's id
/// (a UUID, the Cloud API's `RequestId`), which the request-id middleware puts into the
/// request's logger and into every log line the services write while they serve it.
public struct DoorContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The WebSocket a request upgrades to, where a route takes one (`kubectl exec`).
    public let webSocket = WebSocketHandlerReference<DoorContext>()
    /// The request's id.
    public let requestID: String
    /// The address the request came from (without its port), when the connection has one.
    public let clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = UUID().uuidString.lowercased()
        clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The largest body any door reads (the Cloud API's limit).
    public var maxUploadSize: Int { 1 << 20 }
}

/// The id of the request being served, for log lines written while it is (a task-local, read by
/// the logging system's metadata provider).
public enum RequestID {
    @TaskLocal public static var current: String?

    /// Adds `request=<id>` to every log line written while a request is served.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let id = RequestID.current else { return [:] }
        return ["request": .string(id)]
    }
}

/// Puts the request's id into its logger and into the task-local the services' logs read, so
/// that every line a request causes can be found by its id.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = DoorContext

    public init() {}

    public func handle(_ request: Request, context: DoorContext, next: (Request, DoorContext) async throws -> Response) async throws
        -> Response
    {
        var context = context
        context.logger[metadataKey: "request"] = .string(context.requestID)
        return try await RequestID.$current.withValue(context.requestID) { try await next(request, context) }
    }
}

/// Counts requests by route pattern (never the raw path), method and status class.
public struct HTTPMetricsMiddleware: RouterMiddleware {
    public typealias Context = DoorContext

    public init() {}

    public func handle(_ request: Request, context: DoorContext, next: (Request, DoorContext) async throws -> Response) async throws
        -> Response
    {
        do {
            let response = try await next(request, context)
            IMCMetrics.httpRequest(
                route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            IMCMetrics.httpRequest(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status)
            throw error
        }
    }
}

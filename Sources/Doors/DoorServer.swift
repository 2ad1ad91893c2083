import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket upgrades on the routes of `webSocketRouter` (`kubectl exec`). A
    /// request that asks to upgrade to anything else (kubectl 1.29's SPDY) is answered as a plain
    /// request, whose route says what it needs: NIO's upgrade handler would otherwise drop such a
    /// request unanswered (it finds no upgrader and loses the request's head).
    public static func doors(webSocketRouter: Router<DoorContext>, maxFrameSize: Int) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            OnlyWebSocketUpgrades(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder,
                    configuration: .init(ws: .init(maxFrameSize: maxFrameSize))))
        }
    }
}

/// The WebSocket-upgrading channel, with other upgrades taken off requests before its upgrade
/// handler sees them.
struct OnlyWebSocketUpgrades: ServerChildChannel {
    let base: HTTP1WebSocketUpgradeChannel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let upgrades = try pipeline.handler(type: NIOTypedHTTPServerUpgradeHandler<HTTP1WebSocketUpgradeChannel.UpgradeResult>.self)
            try pipeline.addHandler(ForeignUpgrades(), position: .before(upgrades))
            return value
        }
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Moves an `Upgrade` header that asks for anything but WebSocket to `X-IMC-Upgrade-Refused`.
final class ForeignUpgrades: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    static let header = RefusedUpgrade.header

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var part = unwrapInboundIn(data)
        guard case .head(var head) = part else { return context.fireChannelRead(data) }
        let asked = head.headers["upgrade"]
        if asked.isEmpty { return context.fireChannelRead(data) }
        if asked.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).lowercased() == "websocket" }) {
            // The connection becomes a WebSocket (or is closed): what comes next is not HTTP, so
            // this handler goes before it does.
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        head.headers.remove(name: "upgrade")
        head.headers.replaceOrAdd(name: Self.header, value: asked.joined(separator: ", "))
        part = .head(head)
        context.fireChannelRead(wrapInboundOut(part))
    }
}

/// Where a request's refused upgrade is shown to the routes.
public enum RefusedUpgrade {
    public static let header = "X-IMC-Upgrade-Refused"
}

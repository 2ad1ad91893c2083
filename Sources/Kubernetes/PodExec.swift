import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import IMCDoors
import IMCInstance
import IMCInstances
import IMCRuntime
import IMCServiceSupport
import NIOCore
import NIOPosix

/// `kubectl exec` and `kubectl attach`, over WebSocket (`RemoteCommand`'s protocol, which
/// kubectl 1.30 and later speak). The upgrade is answered only for a Pod of the token's own
/// account whose container runs; anything else falls through to the plain route, which answers
/// why in a `Status` (so does a kubectl that asks for SPDY, which imc does not serve).
extension KubernetesAPI {
    /// Who asks to run what, where.
    struct RemoteCommandTarget {
        let account: String
        let pod: Instance
        let container: String
        let options: RemoteCommand.Options
    }

    /// The routes a WebSocket upgrade may take (a router of their own: an upgrade asked of any
    /// other path is not one).
    public func webSocketRouter() -> Router<DoorContext> {
        let router = Router(context: DoorContext.self)
        let api = self
        for prefix in [Self.prefix, Self.prefix + Self.prefix] {
            for subresource in ["exec", "attach"] {
                let attach = subresource == "attach"
                router.ws(RouterPath(prefix + "/api/v1/namespaces/:namespace/pods/:name/" + subresource)) { request, context in
                    guard let chosen = RemoteCommand.chosen(request.headers[values: .secWebSocketProtocol]),
                        (try? await api.remoteCommandTarget(request, context, attach: attach)) != nil
                    else { return .dontUpgrade }
                    return .upgrade([.secWebSocketProtocol: chosen])
                } onUpgrade: { inbound, outbound, ws in
                    await api.remoteCommand(inbound, outbound, ws.request, ws.requestContext, attach: attach)
                }
            }
        }
        return router
    }

    func remoteCommandTarget(_ request: Request, _ context: DoorContext, attach: Bool) async throws -> RemoteCommandTarget {
        try await remoteCommandTarget(
            call(request, context), name: context.parameters.get("name") ?? "", namespace: context.parameters.get("namespace") ?? "",
            attach: attach)
    }

    /// The Pod and container `call` names, and what it asks of them, checked as the API server
    /// and the kubelet check them.
    func remoteCommandTarget(_ call: Call, name: String, namespace: String, attach: Bool) async throws -> RemoteCommandTarget {
        guard try await namespaceExists(namespace, call.account) else { throw KubernetesStatus.notFound(Resource.namespaces, namespace) }
        let options = try RemoteCommand.options(query: call.request.uri.query ?? "", needsCommand: !attach)
        guard let pod = try await findPod(name, namespace: namespace, call.account) else {
            throw KubernetesStatus.notFound(Resource.pods, name)
        }
        let names = pod.containers.map(\.name)
        let container = options.container ?? names.first ?? ""
        guard names.contains(container) else {
            throw KubernetesStatus.badRequest("container \(container.prefix(63)) is not valid for pod \(name)")
        }
        guard pod.status == .running, pod.deletedFrom == nil, pod.states[container]?.state == .running else {
            throw KubernetesStatus.badRequest(
                "container \(container) of pod \(name) is not running (the Pod is \(pod.deletedFrom == nil ? pod.status.rawValue : "being deleted")): \(attach ? "attach" : "exec") needs a running container"
            )
        }
        if attach && (options.stdin || options.tty) {
            throw KubernetesStatus.badRequest(
                "container \(container) of pod \(name) has no \(options.tty ? "terminal" : "standard input") to attach to (imc starts containers with their input closed); kubectl attach without -i and -t shows its output, kubectl exec -it runs a shell"
            )
        }
        return RemoteCommandTarget(account: call.account, pod: pod, container: container, options: options)
    }

    /// The plain route of exec and attach: what the upgrade was not given for.
    func refusedRemoteCommand(_ call: Call, name: String, namespace: String, attach: Bool) async throws -> Response {
        _ = try await remoteCommandTarget(call, name: name, namespace: namespace, attach: attach)
        let offered = call.request.headers[values: .secWebSocketProtocol]
        if call.request.headers[.upgrade]?.lowercased() == "websocket" {
            throw KubernetesStatus.badRequest(
                "the WebSocket subprotocols offered (\(offered.joined(separator: ", ").prefix(120))) are none of \(RemoteCommand.protocols.joined(separator: ", "))"
            )
        }
        throw KubernetesStatus.badRequest(
            "imc serves kubectl \(attach ? "attach" : "exec") over WebSocket (\(RemoteCommand.protocols[0])), which kubectl 1.30 and later use; this client asked for \(call.request.headers[HTTPField.Name(RefusedUpgrade.header)!].map { String($0.prefix(40)) } ?? "no upgrade") (kubectl 1.29 and earlier speak SPDY, which imc does not serve)"
        )
    }

    /// One exec or attach, from the upgrade to the close: the command's streams to and from the
    /// WebSocket, then its end on the error stream.
    func remoteCommand(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ request: Request, _ context: DoorContext, attach: Bool
    ) async {
        func end(_ message: [UInt8]) async {
            var frame = ByteBuffer(integer: RemoteCommand.Stream.error.rawValue)
            frame.writeBytes(message)
            try? await outbound.write(.binary(frame))
            try? await outbound.close(.normalClosure, reason: nil)
        }
        let target: RemoteCommandTarget
        do { target = try await remoteCommandTarget(request, context, attach: attach) } catch {
            return await end(RemoteCommand.failure((error as? KubernetesStatus)?.message ?? "\(error)"))
        }
        guard let instances else { return await end(RemoteCommand.failure("this door runs no Pods")) }
        if attach {
            return await end(RemoteCommand.ending(exitCode: await attachOutput(target, outbound, inbound)))
        }
        let session: ExecSession
        do {
            session = try await instances.exec(
                id: target.pod.id, account: target.account,
                ExecRequest(
                    container: target.container, command: target.options.command, stdin: target.options.stdin, tty: target.options.tty))
        } catch let e as ServiceError {
            return await end(RemoteCommand.failure(e.message))
        } catch {
            return await end(RemoteCommand.failure("\(error)"))
        }
        let v5 = RemoteCommand.chosen(request.headers[values: .secWebSocketProtocol]) == RemoteCommand.protocols[0]
        await end(RemoteCommand.ending(exitCode: await Self.bridge(session, target.options, inbound, outbound, v5: v5)))
    }

    /// The command's output to the WebSocket and the person's input to the command, until it
    /// ends; its exit status. A person who goes away ends the command (SIGTERM, then SIGKILL).
    static func bridge(
        _ session: ExecSession, _ options: RemoteCommand.Options, _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter,
        v5: Bool
    ) async -> Int32 {
        let outputs = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await pump(session.output, .stdout, outbound, wanted: options.stdout || options.tty) }
                if let error = session.error { group.addTask { await pump(error, .stderr, outbound, wanted: options.stderr) } }
            }
        }
        let input = Task {
            await feed(inbound, session, v5: v5)
            // The person went away before the command ended.
            guard session.process.exitStatus == nil, !Task.isCancelled else { return }
            session.process.signal(SIGTERM)
            try? await Task.sleep(for: .seconds(2))
            session.process.signal(SIGKILL)
        }
        let code = await session.process.exit()
        // What the command wrote before it ended goes out; a child it left behind that holds
        // its output open is not waited for past a second.
        let drained = Task {
            try? await Task.sleep(for: .seconds(1))
            outputs.cancel()
        }
        await outputs.value
        drained.cancel()
        input.cancel()
        if let terminal = session.terminal { close(terminal) }
        return code
    }

    /// Copies what the descriptor `fd` gives to the WebSocket as `stream`'s messages (or reads
    /// it away, unwanted), until it ends; the descriptor is closed.
    static func pump(_ fd: Int32, _ stream: RemoteCommand.Stream, _ outbound: WebSocketOutboundWriter, wanted: Bool) async {
        do {
            let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton).takingOwnershipOfDescriptor(input: fd) {
                channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            try await channel.executeThenClose { chunks, _ in
                for try await chunk in chunks where wanted {
                    var frame = ByteBuffer(integer: stream.rawValue)
                    frame.writeImmutableBuffer(chunk)
                    try await outbound.write(.binary(frame))
                }
            }
        } catch {}
    }

    /// The person's messages: input to the command, a terminal's new size, the end of input
    /// (v5); until the WebSocket closes.
    static func feed(_ inbound: WebSocketInboundStream, _ session: ExecSession, v5: Bool) async {
        // Each chunk of input is awaited until it is written to the command's pipe (so a fast
        // sender waits for a slow reader, and the end of input comes after all of it).
        var input: (any Channel)?
        if let fd = session.input {
            input = try? await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton).takingOwnershipOfDescriptor(output: fd)
                .get()
        }
        defer { if let input { input.close(promise: nil) } }
        do {
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .binary(var buffer) = message, let id = buffer.readInteger(as: UInt8.self) else { continue }
                switch RemoteCommand.Stream(rawValue: id) {
                case .stdin:
                    if let channel = input, buffer.readableBytes > 0 { try? await channel.writeAndFlush(buffer).get() }
                case .resize:
                    if let size = RemoteCommand.size(buffer.readableBytesView) { session.resize(columns: size.columns, rows: size.rows) }
                case .close where v5:
                    if buffer.readInteger(as: UInt8.self) == RemoteCommand.Stream.stdin.rawValue, let channel = input {
                        try? await channel.close().get()
                        input = nil
                    }
                default: continue
                }
            }
        } catch {}
    }
}

extension KubernetesAPI {
    /// `kubectl attach` (output only): what the container writes from now on, until it stops
    /// running or the person goes away. Both of its outputs come on the output stream (its log
    /// keeps them as one text).
    func attachOutput(_ target: RemoteCommandTarget, _ outbound: WebSocketOutboundWriter, _ inbound: WebSocketInboundStream) async
        -> Int32
    {
        guard let instances, let slot = try? streams.acquire(target.account) else { return 1 }
        defer { withExtendedLifetime(slot) {} }
        let (id, account, interval) = (target.pod.id, target.account, watchInterval)
        let request = LogRequest(container: target.container)
        let follow = Task {
            var sent = await (try? instances.logs(id: id, account: account, request).1) ?? ""
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let now = try? await instances.get(id: id, account: account) else { break }
                let current = await (try? instances.logs(id: id, account: account, request).1) ?? ""
                var new = Substring("")
                if current.hasPrefix(sent) {
                    new = current.dropFirst(sent.count)
                } else if !sent.isEmpty, let r = current.range(of: String(sent.suffix(512)), options: .backwards) {
                    new = current[r.upperBound...]
                }
                if !new.isEmpty {
                    var frame = ByteBuffer(integer: RemoteCommand.Stream.stdout.rawValue)
                    frame.writeString(String(new))
                    do { try await outbound.write(.binary(frame)) } catch { break }
                }
                sent = current
                if now.status != .running || now.deletedFrom != nil || now.states[target.container]?.state != .running { break }
            }
        }
        let watcher = Task {
            // The person's side: nothing to read but its going away.
            for try await _ in inbound.messages(maxSize: 1 << 16) {}
            follow.cancel()
        }
        await follow.value
        watcher.cancel()
        return 0
    }
}

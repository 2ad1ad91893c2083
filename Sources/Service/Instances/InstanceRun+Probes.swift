import CIMCSys
import Foundation
import IMCInstance
import IMCOS
import IMCRuntime

/// A container's liveness, readiness and startup probes, run while it runs: the decisions are
/// the `ProbeMachine`'s; here they are timed, carried out from inside the Pod (exec in the
/// container, HTTP and TCP from its network namespace, never the host's), and told to the life.
extension InstanceRun {
    /// Probes `spec`'s `container` until it ends (or is killed for failing its liveness probe).
    func probe(_ spec: ContainerSpec, container: RunningContainer) async {
        guard let probes = spec.probes, !probes.isEmpty else { return }
        var machine = ProbeMachine(probes, container: spec.name, startedAt: now)
        func current() -> Bool { held.running[spec.name] === container && !life.isStopping }
        while current(), let due = machine.nextDue {
            let wait = due.timeIntervalSince(now)
            if wait > 0 { try? await parts.clock.sleep(for: .milliseconds(Int((wait * 1000).rounded(.up)))) }
            guard current() else { return }
            for kind in machine.due(at: now) {
                guard let probe = probes[kind] else { continue }
                let (passed, message) = await run(probe, container: spec.name)
                guard current() else { return }
                let outcomes = machine.result(kind, passed: passed, message: message, at: now)
                await perform(life.probed(spec.name, outcomes, at: now))
                if outcomes.contains(where: { if case .kill = $0 { true } else { false } }) {
                    await runtime.kill(id: runcID(spec.name), signal: "TERM", all: true)
                    try? await parts.clock.sleep(for: .seconds(max(0, min(instance.terminationGracePeriodSeconds, 30))))
                    if held.running[spec.name] === container { await runtime.kill(id: runcID(spec.name), signal: "KILL", all: true) }
                    return
                }
            }
        }
    }

    /// One probe: whether it passed, and what it said when it did not.
    func run(_ probe: Probe, container: String) async -> (Bool, String) {
        let timeout = Double(max(1, probe.timeoutSeconds))
        switch probe.handler {
        case .exec(let command):
            let output = bundle(container) + "/probe.out"
            guard let code = await runtime.exec(id: runcID(container), args: command, timeout: .seconds(timeout), output: output) else {
                return (false, "command \(command.joined(separator: " ").prefix(80)) timed out")
            }
            let said = Runc.tail(of: output, bytes: 300)
            return code == 0 ? (true, "") : (false, said.isEmpty ? "command exited with \(code)" : said)
        case .tcpSocket(let port):
            let (path, host) = (network.path, instance.privateIP ?? "127.0.0.1")
            return await BlockingPool.shared.run {
                switch PodSocket.connect(netns: path, host: host, port: port, timeout: timeout) {
                case .success(let fd):
                    close(fd)
                    return (true, "")
                case .failure(let why): return (false, "dial tcp \(host):\(port): \(why)")
                }
            }
        case .httpGet(let path, let port, _, let headers):
            let (ns, host) = (network.path, instance.privateIP ?? "127.0.0.1")
            return await BlockingPool.shared.run {
                PodSocket.get(netns: ns, host: host, port: port, path: path, headers: headers, timeout: timeout)
            }
        }
    }
}

/// Connections made from inside a Pod's network namespace (the socket is made there; the
/// connect, send and receive are ordinary calls on it).
enum PodSocket {
    static func connect(netns: String, host: String, port: Int, timeout: Double) -> Result<Int32, ProbeFailure> {
        let fd = imc_socket_in_netns(netns, AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
        guard fd >= 0 else { return .failure(ProbeFailure(String(cString: strerror(errno)))) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clamping: port)).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if started != 0 && errno != EINPROGRESS {
            let why = String(cString: strerror(errno))
            close(fd)
            return .failure(ProbeFailure(why))
        }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else {
            close(fd)
            return .failure(ProbeFailure("i/o timeout"))
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else {
            close(fd)
            return .failure(ProbeFailure(String(cString: strerror(error))))
        }
        // Blocking from here, each call bounded by the probe's timeout.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return .success(fd)
    }

    /// An HTTP/1.1 GET as the kubelet sends it (`User-Agent: kube-probe`): a status from 200 to
    /// 399 passes.
    static func get(netns: String, host: String, port: Int, path: String, headers: [String: String], timeout: Double) -> (Bool, String) {
        let fd: Int32
        switch connect(netns: netns, host: host, port: port, timeout: timeout) {
        case .success(let s): fd = s
        case .failure(let why): return (false, "Get \"http://\(host):\(port)\(path)\": dial tcp \(host):\(port): \(why)")
        }
        defer { close(fd) }
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            return (false, "Get \"http://\(host):\(port)\(path)\": write: \(String(cString: strerror(errno)))")
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        var got: [UInt8] = []
        while got.count < 512, !got.contains(0x0A) {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            got += buffer[0..<n]
        }
        let line = String(decoding: got.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else {
            return (false, "Get \"http://\(host):\(port)\(path)\": no HTTP response before the timeout")
        }
        return (200..<400).contains(code) ? (true, "") : (false, "HTTP probe failed with statuscode: \(code)")
    }
}

struct ProbeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ text: String) { description = text }
}

import AsyncHTTPClient
import Foundation
import NIOCore

/// Debian's `docker-registry` (the CNCF distribution registry) started on a free loopback port
/// for one test: open, with htpasswd basic auth, or serving TLS with a self-signed certificate.
public final class DockerRegistry: @unchecked Sendable {
    public enum Auth: Sendable {
        case none
        case htpasswd(user: String, password: String)
    }

    /// `127.0.0.1:PORT`.
    public let host: String
    public let tls: Bool
    /// The self-signed certificate, when serving TLS.
    public let certificatePath: String?
    private let process: Process
    private let directory: TemporaryDirectory

    /// Whether the binary is installed (tests are gated on it with `.enabled(if:)`).
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: binary) }
    static let binary = "/usr/bin/docker-registry"

    /// Starts a registry and waits until it answers `/v2/`.
    public static func start(auth: Auth = .none, tls: Bool = false) async throws -> DockerRegistry {
        let dir = try TemporaryDirectory(prefix: "imc-registry")
        let port = try freePort()
        var yaml = """
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(dir.appending("data"))
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
            """
        var certificate: String?
        if tls {
            let cert = dir.appending("cert.pem")
            let key = dir.appending("key.pem")
            try run(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                ])
            yaml += "\n  tls:\n    certificate: \(cert)\n    key: \(key)"
            certificate = cert
        }
        if case .htpasswd(let user, let password) = auth {
            let out = try run("/usr/bin/htpasswd", ["-Bbn", user, password])
            try out.write(toFile: dir.appending("htpasswd"), atomically: true, encoding: .utf8)
            yaml += "\nauth:\n  htpasswd:\n    realm: imc-test\n    path: \(dir.appending("htpasswd"))"
        }
        yaml += "\n"
        try yaml.write(toFile: dir.appending("config.yml"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", dir.appending("config.yml")]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let registry = DockerRegistry(host: "127.0.0.1:\(port)", tls: tls, certificatePath: certificate, process: process, directory: dir)
        try await registry.waitUntilReady()
        return registry
    }

    private init(host: String, tls: Bool, certificatePath: String?, process: Process, directory: TemporaryDirectory) {
        self.host = host
        self.tls = tls
        self.certificatePath = certificatePath
        self.process = process
        self.directory = directory
    }

    deinit { stop() }

    /// Stops the registry.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    private func waitUntilReady() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(certificateVerification: .none))
        do {
            try await poll(client)
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func poll(_ client: HTTPClient) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TestSupportError("docker-registry exited at start (status \(process.terminationStatus))") }
            if let r = try? await client.execute(HTTPClientRequest(url: "\(tls ? "https" : "http")://\(host)/v2/"), timeout: .seconds(2)) {
                _ = try? await r.body.collect(upTo: 1 << 20)
                if r.status.code == 200 || r.status.code == 401 { return }
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw TestSupportError("docker-registry did not answer on \(host) within 20 s")
    }
}

/// A failure of the test bed itself.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw TestSupportError("bind failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Runs a program to completion and returns its standard output; throws on a non-zero exit.
@discardableResult
public func run(_ executable: String, _ arguments: [String]) throws -> String {
    let outcome = try CommandRunner.capture(executable, arguments)
    guard outcome.status == 0 else {
        throw TestSupportError("\(executable) \(arguments.joined(separator: " ")) failed (\(outcome.status)): \(outcome.stderr)")
    }
    return outcome.stdout
}

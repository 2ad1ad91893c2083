import Foundation
import IMCAPI
import IMCClient
import IMCTestSupport

/// `imc serve` run as a child process for a benchmark, with a known root key, waited for until
/// it answers, and stopped (its pool unmounted) by `stop()`.
final class ServeProcess {
    let process = Process()
    let dataRoot: String
    let settings: APIClient.Settings

    init(imc: String, dataRoot: String, builders: Int, extraArguments: [String] = [], environment: [String: String] = [:]) async throws {
        self.dataRoot = dataRoot
        let port = try freePort()
        settings = APIClient.Settings(endpoint: "127.0.0.1:\(port)", secretID: "AKIDbench", secretKey: "bench-key", region: "ap-guangzhou")
        process.executableURL = URL(fileURLWithPath: URL(fileURLWithPath: imc).standardizedFileURL.path)
        process.arguments =
            [
                "serve", "--data-root", dataRoot, "--listen", "127.0.0.1:\(port)", "--builders", "\(builders)", "--log-level", "warning",
                "--listen-tls", "127.0.0.1:0", "--allow-registry-network", "127.0.0.0/8",
            ] + extraArguments
        process.environment = ProcessInfo.processInfo.environment.merging([
            "IMC_ROOT_SECRET_ID": "AKIDbench", "IMC_ROOT_SECRET_KEY": "bench-key",
        ]) { $1 }.merging(environment) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let client = APIClient(settings)
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? await client.send(DescribeImageCachesRequest(Limit: 1))) == nil {
            guard ContinuousClock.now < deadline, process.isRunning else {
                try? await client.shutdown()
                stop()
                throw BenchError("imc serve did not start")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await client.shutdown()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        _ = try? Measure.shell("umount \(dataRoot)/pool || true")
    }
}

/// What `imc kubeconfig` gives a benchmark for the Kubernetes door: the kubeconfig file, the
/// server's URL, the bearer token, and the CA's certificate written to a file.
struct KubeAccess {
    let config: String
    let server: String
    let token: String
    let ca: String

    init(_ serve: ServeProcess, imc: String, root: String) throws {
        config = root + "/kubeconfig"
        let env = "TENCENTCLOUD_SECRET_ID=\(serve.settings.secretID) TENCENTCLOUD_SECRET_KEY=\(serve.settings.secretKey)"
        try Measure.shell("\(env) \(imc) kubeconfig --endpoint \(serve.settings.endpoint) > \(config)")
        let kubeconfig = try String(contentsOfFile: config, encoding: .utf8)
        func value(_ key: String) -> String {
            kubeconfig.split(separator: "\n").first { $0.contains(key + ":") }.map {
                String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
            } ?? ""
        }
        server = value("server")
        token = value("token")
        ca = root + "/ca.pem"
        try Data(base64Encoded: value("certificate-authority-data"))?.write(to: URL(fileURLWithPath: ca))
    }
}

import ArgumentParser
import AsyncHTTPClient
import Foundation
import IMCAPI
import IMCClient
import IMCModel
import IMCRegistry
import IMCTestSupport
import NIOCore
import NIOSSL

/// `imc-bench workload`: what a real workload's parts cost. A Pod from a cache with a configMap
/// volume, a Secret's key in its environment and a readiness probe, against the same Pod without
/// them: the time from the create to the Pod's Ready condition, through the Kubernetes door,
/// alternating. Then the CPU imc spends probing: N instances each with a TCP liveness and an
/// HTTP readiness probe every second, imc's CPU over a window beside the same instances without
/// probes, given per 100 instances at Kubernetes' default period of 10 s.
struct WorkloadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload", abstract: "A Pod with volumes, env and probes to Ready, and probe CPU.")

    @Option(help: "Pods of each kind, alternating.") var runs = 10
    @Option(help: "Instances probed at once for the CPU figure.") var probed = 50
    @Option(help: "Seconds the CPU is measured over.") var window = 20
    @Option(help: "Where the run goes.") var work = "/var/tmp/imc-bench"
    @Option(help: "The imc binary.") var imc = ".build/release/imc"
    @Option(help: "Write the results as Markdown to this file.") var markdown: String?

    func run() async throws {
        let imcPath = URL(fileURLWithPath: imc).standardizedFileURL.path
        let registry = try await DockerRegistry.start()
        defer { registry.stop() }
        let push = RegistryClient(config: RegistryConfig(plainHTTPHosts: [registry.host]))
        try await push.push(
            try RunnableImages.image(files: ["www/index.html": "ok\n"], cmd: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]),
            host: registry.host, repository: "bench/web", tag: "v1")
        try await push.shutdown()
        let image = "\(registry.host)/bench/web:v1"
        let root = work + "/workload-runs"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "quotas: {instances: 1000}\n".write(toFile: root + "/config.yaml", atomically: true, encoding: .utf8)
        let serve = try await ServeProcess(
            imc: imcPath, dataRoot: root + "/service", builders: 1,
            extraArguments: ["--plain-http", registry.host, "--config", root + "/config.yaml"])
        defer { serve.stop() }
        let client = APIClient(serve.settings)
        var create = CreateImageCacheRequest(Images: [image])
        create.ImageCacheName = "web"
        create.RegistryHttpEndPointList = [registry.host]
        let cacheID = try await client.send(create).ImageCacheId
        guard try await client.waitForBuild(cacheID).Status == "Ready" else { throw BenchError("the cache failed") }

        let access = try KubeAccess(serve, imc: imcPath, root: root)
        let (server, token, ca) = (access.server, access.token, access.ca)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ca)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
        func call(_ method: String, _ path: String, _ body: String? = nil) async throws -> (Int, String) {
            var request = HTTPClientRequest(url: server + path)
            request.method = .init(rawValue: method)
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let answer = try await http.execute(request, timeout: .seconds(60))
            let text = String(buffer: try await answer.body.collect(upTo: 16 << 20))
            return (Int(answer.status.code), text)
        }
        let ns = "/api/v1/namespaces/default"
        _ = try await call("POST", ns + "/configmaps", #"{"metadata":{"name":"web-conf"},"data":{"colour":"blue"}}"#)
        _ = try await call("POST", ns + "/secrets", #"{"metadata":{"name":"web-secret"},"data":{"token":"czNjcmV0"}}"#)

        /// 0: plain; 1: a configMap volume and a Secret's key in env; 2: those and a readiness probe.
        func pod(_ name: String, kind: Int) -> String {
            let annotations = #""annotations":{"eks.tke.cloud.tencent.com/use-image-cache":"auto"}"#
            let config =
                #","env":[{"name":"TOKEN","valueFrom":{"secretKeyRef":{"name":"web-secret","key":"token"}}}],"volumeMounts":[{"name":"conf","mountPath":"/conf"}]"#
            let probe = #","readinessProbe":{"httpGet":{"path":"/index.html","port":8080},"periodSeconds":1}"#
            let extras = kind == 0 ? "" : kind == 1 ? config : config + probe
            let volumes = kind > 0 ? #","volumes":[{"name":"conf","configMap":{"name":"web-conf"}}]"# : ""
            return
                #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)",\#(annotations)},"spec":{"terminationGracePeriodSeconds":0\#(volumes),"containers":[{"name":"web","image":"\#(image)"\#(extras)}]}}"#
        }
        /// Create to the Ready condition, at the client.
        func start(_ name: String, kind: Int) async throws -> Double {
            let t0 = ContinuousClock.now
            let (code, text) = try await call("POST", ns + "/pods", pod(name, kind: kind))
            guard code == 201 else { throw BenchError("create \(name): \(code) \(text.prefix(300))") }
            while true {
                let (_, body) = try await call("GET", ns + "/pods/" + name)
                if body.contains(#""type":"Ready","status":"True""#) { return (ContinuousClock.now - t0).seconds }
                if body.contains(#""phase":"Failed""#) { throw BenchError("\(name) failed: \(body.prefix(500))") }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        func remove(_ names: [String]) async throws {
            for name in names { _ = try await call("DELETE", ns + "/pods/" + name) }
            for name in names {
                while try await call("GET", ns + "/pods/" + name).0 != 404 { try await Task.sleep(for: .milliseconds(20)) }
            }
        }
        // Warm: one of each first, not counted.
        for kind in 0..<3 { _ = try await start("warm-\(kind)", kind: kind) }
        try await remove((0..<3).map { "warm-\($0)" })
        var times: [[Double]] = [[], [], []]
        for i in 0..<runs {
            for kind in 0..<3 { times[kind].append(try await start("pod-\(kind)-\(i)", kind: kind)) }
            try await remove((0..<3).map { "pod-\($0)-\(i)" })
        }
        let (plain, configured, full) = (times[0], times[1], times[2])

        // Probe CPU: the same instances, without and with probes.
        func cpu(of pid: Int32) -> Double {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return 0 }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name.
            let ticks = fields[11...14].compactMap { Double($0) }.reduce(0, +)
            return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        func probedPod(_ name: String, probes: Bool) -> String {
            let p =
                probes
                ? #","readinessProbe":{"httpGet":{"path":"/index.html","port":8080},"periodSeconds":1},"livenessProbe":{"tcpSocket":{"port":8080},"periodSeconds":1}"#
                : ""
            return
                #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","annotations":{"eks.tke.cloud.tencent.com/use-image-cache":"auto"}},"spec":{"terminationGracePeriodSeconds":0,"containers":[{"name":"web","image":"\#(image)"\#(p)}]}}"#
        }
        var perSecond: [Bool: Double] = [:]
        for probes in [false, true] {
            let names = (0..<probed).map { "cpu-\(probes ? "p" : "n")-\($0)" }
            for name in names { _ = try await call("POST", ns + "/pods", probedPod(name, probes: probes)) }
            for name in names {
                while !(try await call("GET", ns + "/pods/" + name).1.contains(#""type":"Ready","status":"True""#)) {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await Task.sleep(for: .seconds(3))
            let before = cpu(of: serve.process.processIdentifier)
            try await Task.sleep(for: .seconds(window))
            perSecond[probes] = (cpu(of: serve.process.processIdentifier) - before) / Double(window)
            try await remove(names)
        }
        _ = try await client.send(DeleteImageCachesRequest(ImageCacheIds: [cacheID]))
        try await client.shutdown()
        try await http.shutdown()
        let probeCost = max(0, (perSecond[true] ?? 0) - (perSecond[false] ?? 0))
        // Two probes a second per instance here; Kubernetes' default is one per 10 s each.
        let per100AtDefault = probeCost / Double(probed) * 100 / 10
        func ms(_ v: Double) -> String { String(format: "%.0f ms", v * 1000) }
        let p90 = { (v: [Double]) in v.sorted()[min(v.count - 1, Int(Double(v.count) * 0.9))] }
        let report = """
            | Pod (from a cache, through the Kubernetes door) | create to Ready, median | p90 |
            |---|---|---|
            | plain (one container) | \(ms(Measure.median(plain))) | \(ms(p90(plain))) |
            | + configMap volume and a Secret's key in env | \(ms(Measure.median(configured))) | \(ms(p90(configured))) |
            | difference | \(ms(Measure.median(configured) - Measure.median(plain))) | |
            | + HTTP readiness probe (period 1 s; its first GET races the server's start) | \(ms(Measure.median(full))) | \(ms(p90(full))) |

            | probes | imc CPU, \(probed) instances, no probes | with an HTTP readiness and a TCP liveness probe every 1 s | probe cost | per 100 instances at the default 10 s period |
            |---|---|---|---|---|
            | \(probed) × 2 per s | \(String(format: "%.1f%%", (perSecond[false] ?? 0) * 100)) of a core | \(String(format: "%.1f%%", (perSecond[true] ?? 0) * 100)) | \(String(format: "%.1f%%", probeCost * 100)) | \(String(format: "%.2f%%", per100AtDefault * 100)) of a core |

            """
        print(report)
        if let markdown { try report.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }
}

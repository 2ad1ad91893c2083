import ArgumentParser
import AsyncHTTPClient
import Foundation
import IMCAPI
import IMCClient
import NIOCore
import NIOSSL

/// `imc-bench kubectl`: the Kubernetes door at scale. `kubectl apply` of N ImageCache objects in
/// one file and `kubectl get imagecaches` over them, against `imc apply -f` of the same file
/// (the Cloud API path); imc's memory before and after; then W watchers on the collection and the
/// time from a change to each watcher's event.
struct KubernetesBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubectl", abstract: "kubectl apply/get of many ImageCache objects, and watch fan-out.")

    @Option(help: "ImageCache objects to apply.") var objects = 1000
    @Option(help: "Watchers of the collection at once.") var watchers = 50
    @Option(help: "Changes whose delivery to every watcher is timed.") var changes = 20
    @Option(help: "Where the run goes.") var work = "/var/tmp/imc-bench"
    @Option(help: "The imc binary.") var imc = ".build/release/imc"
    @Option(help: "The kubectl binary (default: the newest kubectl.1.NN beside kubectl).") var kubectl: String?
    @Option(help: "Write the results as Markdown to this file.") var markdown: String?

    func run() async throws {
        let imcPath = URL(fileURLWithPath: imc).standardizedFileURL.path
        let kubectlPath = try kubectl ?? Self.newestKubectl()
        let root = work + "/kubernetes-runs"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // No builders: the objects are the subject, not their builds. Quotas above the run's size.
        try "quotas: {caches: 100000, cacheDiskGiB: 10000000}\n".write(toFile: root + "/config.yaml", atomically: true, encoding: .utf8)
        let serve = try await ServeProcess(
            imc: imcPath, dataRoot: root + "/service", builders: 0, extraArguments: ["--config", root + "/config.yaml"])
        defer { serve.stop() }
        let access = try KubeAccess(serve, imc: imcPath, root: root)
        let (config, server, token, ca) = (access.config, access.server, access.token, access.ca)
        let env = "TENCENTCLOUD_SECRET_ID=\(serve.settings.secretID) TENCENTCLOUD_SECRET_KEY=\(serve.settings.secretKey)"

        func manifest(prefix: String) -> String {
            (0..<objects).map { i in
                "apiVersion: eks.cloud.tencent.com/v1\nkind: ImageCache\nmetadata:\n  name: \(prefix)-\(String(format: "%04d", i))\n"
                    // The Cloud API keeps no labels (imc apply refuses them); the door does.
                    + (prefix == "k8s" ? "  labels: {bench: \"yes\"}\n" : "")
                    + "spec:\n  images: [\"registry.example.com/team/app-\(i):v1\", \"nginx:1.27\"]\n"
                    + "  imageCacheSize: \(20 + i % 10)\n"
            }.joined(separator: "---\n")
        }
        try manifest(prefix: "k8s").write(toFile: root + "/k8s.yaml", atomically: true, encoding: .utf8)
        try manifest(prefix: "api").write(toFile: root + "/api.yaml", atomically: true, encoding: .utf8)
        let pid = serve.process.processIdentifier
        let rssStart = Self.rssKiB(pid)
        let k = [kubectlPath, "--kubeconfig", config, "--cache-dir", root + "/kube-cache"]
        _ = try Measure.run(k + ["api-resources"], outputFile: root + "/out")  // discovery cached, as a user's would be
        let apply = try Measure.run(k + ["apply", "-f", root + "/k8s.yaml"], outputFile: root + "/out")
        guard apply.status == 0 else {
            throw BenchError("kubectl apply failed (\(apply.status)); its output ends: \(apply.output.suffix(300))")
        }
        let rssAfterApply = Self.rssKiB(pid)
        var gets: [Double] = []
        for _ in 0..<5 {
            let get = try Measure.run(k + ["get", "imagecaches"], outputFile: root + "/out")
            guard get.status == 0, get.output.split(separator: "\n").count == objects + 1 else {
                throw BenchError("kubectl get imagecaches did not list \(objects) objects")
            }
            gets.append(get.seconds)
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ca)
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        // A connection per watcher (the pool's default is 8 per host), and one for the changes.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: watchers + 4)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let collection = server + "/apis/eks.cloud.tencent.com/v1/imagecaches"
        // The same list at the server: the request kubectl sends for its table (its Accept
        // header), timed from a client on this host that does nothing with the answer; then
        // the table with whole objects in its rows, and the list as `kubectl get -o json` asks.
        let tableAccept =
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        func timeList(_ query: String, accept: String) async throws -> [Double] {
            var times: [Double] = []
            for _ in 0..<7 {
                var request = HTTPClientRequest(url: collection + "?limit=500" + query)
                request.headers.add(name: "Authorization", value: "Bearer " + token)
                request.headers.add(name: "Accept", value: accept)
                var continueToken: String? = nil
                let start = ContinuousClock.now
                repeat {
                    if let continueToken { request.url = collection + "?limit=500\(query)&continue=\(continueToken)" }
                    let answer = try await http.execute(request, timeout: .seconds(60))
                    let body = String(buffer: try await answer.body.collect(upTo: 64 << 20))
                    // Only the list's continue token is read (the objects hold none).
                    continueToken = body.firstRange(of: #""continue":""#).map { found in
                        String(body[found.upperBound...].prefix { $0 != "\"" })
                    }.flatMap { $0.isEmpty ? nil : $0 }
                } while continueToken != nil
                times.append((ContinuousClock.now - start).seconds)
            }
            return times
        }
        let served = try await timeList("", accept: tableAccept)
        let servedWhole = try await timeList("&includeObject=Object", accept: tableAccept)
        let servedList = try await timeList("", accept: "application/json")
        let reapply = try Measure.run(k + ["apply", "-f", root + "/k8s.yaml"], outputFile: root + "/out")
        // The same objects through the Cloud API, as `imc apply -f` sends them.
        let imcApply = try Measure.run(
            ["/bin/bash", "-c", "\(env) \(imcPath) apply -f \(root)/api.yaml --endpoint \(serve.settings.endpoint)"],
            outputFile: root + "/out")
        guard imcApply.status == 0 else { throw BenchError("imc apply failed: \(imcApply.output.suffix(400))") }
        let rssAfterAll = Self.rssKiB(pid)

        // Watch fan-out.
        let arrivals = Arrivals()
        var list = HTTPClientRequest(url: collection + "?limit=1")
        list.headers.add(name: "Authorization", value: "Bearer " + token)
        let listed = try await http.execute(list, timeout: .seconds(60))
        let listBody = try await listed.body.collect(upTo: 64 << 20)
        let listJSON = try JSONSerialization.jsonObject(with: Data(buffer: listBody)) as? [String: Any]
        let rv = ((listJSON?["metadata"] as? [String: Any])?["resourceVersion"] as? String) ?? "0"
        let streams = (0..<watchers).map { w in
            Task {
                var request = HTTPClientRequest(url: collection + "?watch=true&resourceVersion=\(rv)&timeoutSeconds=600")
                request.headers.add(name: "Authorization", value: "Bearer " + token)
                let response = try await http.execute(request, timeout: .seconds(660))
                await arrivals.connected()
                var pending = ""
                for try await chunk in response.body {
                    pending += String(buffer: chunk)
                    while let newline = pending.firstIndex(of: "\n") {
                        let line = pending[..<newline]
                        if let r = line.range(of: "\"retentionDays\":") {
                            let digits = line[r.upperBound...].prefix { $0.isNumber }
                            if let round = Int(digits) { await arrivals.record(watcher: w, round: round) }
                        }
                        pending = String(pending[pending.index(after: newline)...])
                    }
                }
            }
        }
        while await arrivals.connectedCount < watchers { try await Task.sleep(for: .milliseconds(20)) }
        let rssWatching = Self.rssKiB(pid)
        var delays: [Double] = []
        for round in 1...changes {
            var patch = HTTPClientRequest(url: collection + "/k8s-0000")
            patch.method = .PATCH
            patch.headers.add(name: "Authorization", value: "Bearer " + token)
            patch.headers.add(name: "Content-Type", value: "application/merge-patch+json")
            patch.body = .bytes(ByteBuffer(string: #"{"spec":{"retentionDays":\#(round)}}"#))
            let sent = ContinuousClock.now
            await arrivals.start(round: round, at: sent)
            let answer = try await http.execute(patch, timeout: .seconds(30))
            guard answer.status == .ok else { throw BenchError("PATCH answered \(answer.status.code)") }
            _ = try await answer.body.collect(upTo: 1 << 20)
            let deadline = ContinuousClock.now + .seconds(30)
            while await arrivals.count(round: round) < watchers {
                guard ContinuousClock.now < deadline else { throw BenchError("round \(round): not every watcher got the change") }
                try await Task.sleep(for: .milliseconds(5))
            }
            delays += await arrivals.delays(round: round)
        }
        for s in streams { s.cancel() }
        try await http.shutdown()

        let sorted = delays.sorted()
        let p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        let perObject = apply.seconds / Double(objects) * 1000
        let text = """
            | what | result |
            |---|---|
            | `kubectl apply -f` of \(objects) ImageCache objects (one file, client-side apply) | \(String(format: "%.1f s", apply.seconds)) (\(String(format: "%.1f", perObject)) ms per object) |
            | the same file applied again (all unchanged) | \(String(format: "%.1f s", reapply.seconds)) |
            | `imc apply -f` of \(objects) caches (the Cloud API, same objects) | \(String(format: "%.1f s", imcApply.seconds)) |
            | `kubectl get imagecaches` over \(objects + 0) objects (table, median of 5) | \(Int(Measure.median(gets) * 1000)) ms |
            | the same list at the server (its two pages of 500, as kubectl asks; median of 7) | \(Int(Measure.median(served) * 1000)) ms |
            | the same table with whole objects in its rows (`includeObject=Object`) / the list as `-o json` asks | \(Int(Measure.median(servedWhole) * 1000)) / \(Int(Measure.median(servedList) * 1000)) ms |
            | imc's resident memory: start / after the kubectl apply / after both applies / with \(watchers) watchers | \(rssStart / 1024) / \(rssAfterApply / 1024) / \(rssAfterAll / 1024) / \(rssWatching / 1024) MiB |
            | change -> event at each of \(watchers) watchers (\(changes) changes, \(delays.count) deliveries) | median \(Int(Measure.median(delays))) ms, p99 \(Int(p99)) ms, max \(Int(sorted.last ?? 0)) ms |

            """
        print(text)
        if let markdown { try text.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }

    /// The newest `kubectl.1.NN` beside the `kubectl` on PATH.
    static func newestKubectl() throws -> String {
        let link = try Measure.shell("readlink -f \"$(command -v kubectl)\"").trimmingCharacters(in: .whitespacesAndNewlines)
        let dir = (link as NSString).deletingLastPathComponent
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("kubectl.1.") }.sorted {
            (Int($0.dropFirst(10)) ?? 0) < (Int($1.dropFirst(10)) ?? 0)
        }
        guard let newest = versions.last else { throw BenchError("no kubectl.1.NN beside \(link)") }
        return dir + "/" + newest
    }

    static func rssKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
}

/// When each watcher saw each change.
actor Arrivals {
    private var sent: [Int: ContinuousClock.Instant] = [:]
    private var seen: [Int: [Int: ContinuousClock.Instant]] = [:]
    private(set) var connectedCount = 0
    func connected() { connectedCount += 1 }
    func start(round: Int, at: ContinuousClock.Instant) { sent[round] = at }
    func record(watcher: Int, round: Int) {
        if seen[round]?[watcher] == nil { seen[round, default: [:]][watcher] = ContinuousClock.now }
    }
    func count(round: Int) -> Int { seen[round]?.count ?? 0 }
    func delays(round: Int) -> [Double] {
        guard let start = sent[round] else { return [] }
        return (seen[round] ?? [:]).values.map {
            Double(($0 - start).components.attoseconds) / 1e15 + Double(($0 - start).components.seconds) * 1000
        }
    }
}

import Foundation
import Hummingbird
import IMCCache
import IMCInstance
import IMCServiceSupport
import IMCStore

/// The instances: each with its image cache result and its start-up as a timeline, a chart of
/// cold against cached start times, a form to run one, and an instance's page.
extension Console {
    /// Milliseconds from creation to the last container started (nil: not started).
    static func startedMilliseconds(_ i: Instance) -> Double? {
        let started = i.phases.filter { StartupPhase.isContainerStart($0.name) }
        guard started.count >= i.containers.count, let last = started.map(\.at).max() else { return nil }
        return last.timeIntervalSince(i.creationTime) * 1000
    }

    /// The start-up phases as bars on one time axis (an SVG).
    struct Timeline {
        struct Row {
            var x: Int
            var y: Int
            var w: Int
            var name: String
            var ms: Int
            var labelX: Int
            var labelY: Int
        }
        var width: Int
        var height: Int
        var rows: [Row]

        init?(_ i: Instance, width: Double = 520) {
            let marks = i.phases.map { ($0.name, $0.at.timeIntervalSince(i.creationTime) * 1000) }
            guard let end = marks.map(\.1).max(), end > 0 else { return nil }
            var previous = 0.0
            rows = marks.enumerated().map { n, mark in
                let (name, ms) = mark
                let x = previous / end * width
                let w = max(1.5, (ms - previous) / end * width)
                previous = ms
                return Row(
                    x: Int(x), y: n * 14, w: Int(w), name: name, ms: Int(ms), labelX: Int(min(width + 6, x + w + 4)), labelY: n * 14 + 10)
            }
            self.width = Int(width) + 260
            height = marks.count * 14
        }
    }

    /// Start times of the last instances, cached (from an image cache) against cold (pulled).
    struct Chart {
        struct Bar {
            var x: Int
            var y: Int
            var w: Int
            var h: Int
            var color: String
            var id: String
            var ms: Int
            var kind: String
        }
        var width: Int
        var height: Int
        var bars: [Bar]
        var cachedMedian: String
        var coldMedian: String

        init?(_ list: [Instance]) {
            let points = list.reversed().compactMap { i -> (String, Double, Bool)? in
                guard let ms = Console.startedMilliseconds(i) else { return nil }
                return (i.id, ms, i.cacheOutcome == .used)
            }.suffix(30)
            guard let top = points.map(\.1).max(), top > 0 else { return nil }
            let barWidth = 22
            let chartHeight = 160.0
            bars = points.enumerated().map { n, p in
                let h = max(2, p.1 / top * chartHeight)
                return Bar(
                    x: n * (barWidth + 6), y: Int(chartHeight - h), w: barWidth, h: Int(h), color: p.2 ? "#0a8a3a" : "#b06f00", id: p.0,
                    ms: Int(p.1), kind: p.2 ? "cached" : "cold")
            }
            func median(_ v: [Double]) -> String { v.isEmpty ? "-" : "\(Int(v.sorted()[v.count / 2])) ms" }
            cachedMedian = median(points.filter(\.2).map(\.1))
            coldMedian = median(points.filter { !$0.2 }.map(\.1))
            width = points.count * (barWidth + 6)
            height = Int(chartHeight)
        }
    }

    struct InstanceRow {
        var id: String
        var name: String
        var status: String
        var outcome: String
        var cacheID: String?
        var started: String
        var timeline: Timeline?
    }

    struct InstanceListBody {
        var total: Int
        var chart: Chart?
        var rows: [InstanceRow]
        var live: Bool
    }

    func instanceList(_ s: Session) async throws -> Response {
        guard let instances else {
            return render(
                "message", title: "Instances", session: s, active: "instances", body: Message(text: "Instances are not served here."))
        }
        var q = InstanceQuery()
        q.limit = 100
        let (total, list) = try await instances.describe(account: s.account, query: q)
        let rows = list.map { i in
            InstanceRow(
                id: i.id, name: i.name, status: i.status.rawValue, outcome: i.cacheOutcome?.rawValue ?? "-", cacheID: i.cacheID,
                started: Self.startedMilliseconds(i).map { "\(Int($0)) ms" } ?? "-", timeline: Timeline(i, width: 260))
        }
        return render(
            "instanceList", title: "Instances", session: s, active: "instances",
            body: InstanceListBody(
                total: total, chart: Chart(list), rows: rows, live: list.contains { $0.status == .pending || $0.status == .terminating }))
    }

    /// The Run form's fields, as posted.
    struct RunForm: Decodable {
        var name: String?
        var image: String?
        var command: String?
        var cache: String?
        var restart: String?
        /// "", `perfect` or `partial` ("": the account's default).
        var match: String?
        /// `on` when the box is ticked.
        var autoCreate: String?
        /// The network: a VPC and subnet of the account, security groups (comma-separated).
        var vpc: String?
        var subnet: String?
        var groups: String?
        /// `on`: an EIP made for it; its outbound cap in Mbit/s ("": none).
        var eip: String?
        var bandwidth: String?
    }

    struct RunBody {
        struct Option {
            var value: String
            var label: String
            var selected: Bool
        }
        var error: String?
        var name: String
        var image: String
        var command: String
        var caches: [Option]
        var vpc: String
        var subnet: String
        var groups: String
        /// The security groups the config has, to choose from.
        var knownGroups: String
        var eip: Bool
        var bandwidth: String
        /// Whether the service has an EIP pool.
        var eipPool: String?
    }

    func runPage(_ s: Session, form: RunForm?, error: String?, cache: String? = nil) async throws -> Response {
        var q = CacheQuery()
        q.statuses = CacheStatus.serving
        q.limit = 50
        let ready = try await caches.describe(account: s.account, query: q).caches
        let chosen = form.map { typed($0.cache) } ?? cache ?? "auto"
        let options =
            [
                RunBody.Option(value: "auto", label: "auto: the best matching cache", selected: chosen == "auto"),
                RunBody.Option(value: "none", label: "none: pull the images", selected: chosen == "none"),
            ] + ready.map { RunBody.Option(value: $0.id, label: "\($0.id) (\($0.name))", selected: chosen == $0.id) }
        let image = form.map { typed($0.image) } ?? (cache.flatMap { id in ready.first { $0.id == id }?.images.first } ?? "")
        return render(
            "runPage", title: "Run an instance", session: s, active: "instances",
            body: RunBody(
                error: error, name: form.map { typed($0.name) } ?? "", image: image, command: form.map { typed($0.command) } ?? "",
                caches: options, vpc: form.map { typed($0.vpc) } ?? "", subnet: form.map { typed($0.subnet) } ?? "",
                groups: form.map { typed($0.groups) } ?? "",
                knownGroups: (instances?.network.securityGroups.keys.sorted() ?? []).joined(separator: ", "),
                eip: form.map { typed($0.eip) == "on" } ?? false, bandwidth: form.map { typed($0.bandwidth) } ?? "",
                eipPool: instances?.network.eips?.cidr),
            status: error == nil ? .ok : .badRequest)
    }

    func runInstance(_ s: Session, _ form: RunForm) async throws -> Response {
        guard let instances else { return Self.text("instances are not served here", status: .notFound) }
        var request = InstanceRequest()
        if !typed(form.name).isEmpty { request.name = typed(form.name) }
        var container = ContainerSpec(name: "main", image: typed(form.image))
        if !typed(form.command).isEmpty { container.commands = ["/bin/sh", "-c", typed(form.command)] }
        request.containers = [container]
        request.restartPolicy = RestartPolicy(rawValue: typed(form.restart)) ?? .never
        switch typed(form.cache) {
        case "none": request.cache.use = nil
        case "", "auto": request.cache.use = "auto"
        case let id: request.cache.use = id
        }
        // What the form does not set, the account's default annotations may.
        request.unsaid = [.diskType, .diskSize, .retainMinute, .minMatchedImages]
        switch typed(form.match) {
        case "partial": request.cache.partialMatch = true
        case "perfect": request.cache.partialMatch = false
        default: request.unsaid.insert(.match)
        }
        if typed(form.autoCreate) == "on" { request.cache.autoCreate = true } else { request.unsaid.insert(.autoCreate) }
        if !typed(form.vpc).isEmpty { request.vpcID = typed(form.vpc) }
        if !typed(form.subnet).isEmpty { request.subnetID = typed(form.subnet) }
        request.securityGroupIDs = typed(form.groups).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        if typed(form.eip) == "on" {
            let text = typed(form.bandwidth)
            guard text.isEmpty || Int(text).map(EIPRequest.bandwidthMbps.contains) == true else {
                return try await runPage(
                    s, form: form,
                    error:
                        "The EIP's bandwidth must be Mbit/s from \(EIPRequest.bandwidthMbps.lowerBound) to \(EIPRequest.bandwidthMbps.upperBound), or empty for no cap; not \"\(text)\"."
                )
            }
            request.eip = .autoCreate(bandwidthMbps: Int(text))
        }
        do {
            let created = try await instances.create(request, account: s.account, region: s.region)
            return Self.redirect("/console/instances/\(created[0].id)")
        } catch let e as ServiceError {
            return try await runPage(s, form: form, error: e.message.replacingOccurrences(of: "Containers[0].", with: ""))
        }
    }

    struct InstancePageBody {
        var id: String
        var restartPolicy: String
        var live: InstanceLive
    }

    struct InstanceLive {
        struct Disk {
            var id: String
            var size: Int
            var type: String
        }
        struct ContainerRow {
            var name: String
            var image: String
            var state: String
            var reason: String?
            var exitCode: String
            var restarts: Int
            /// Ready (its readiness probe passes, or it runs and has none), as the Pod's READY.
            var ready: String
            /// Its probes, in a line (`readiness httpGet :8080/ every 1s`).
            var probes: String
        }
        struct VolumeRow {
            var name: String
            var kind: String
            var mounts: String
        }
        var final: Bool
        var status: String
        var outcome: String
        var cacheID: String?
        var disk: Disk?
        /// The instance's address on its VPC's network, and the VPC.
        var address: String?
        /// Its EIP (`198.51.100.17 (eip-…)`).
        var eip: String?
        var volumes: [VolumeRow]
        var timeline: Timeline?
        var containers: [ContainerRow]
        var events: [EventRow]
        var logs: String
    }

    static func kind(of source: VolumeSource) -> String {
        switch source {
        case .emptyDir(let memory, let limit):
            "emptyDir" + (memory ? " (memory)" : "") + (limit.map { ", at most \(Console.bytes($0))" } ?? "")
        case .files(let files): files.kind
        case .nfs(let server, let path, let readOnly): "nfs \(server):\(path)" + (readOnly ? " (read-only)" : "")
        }
    }

    static func bytes(_ n: Int64) -> String {
        n >= 1 << 30 && n % (1 << 30) == 0 ? "\(n >> 30) GiB" : n >= 1 << 20 ? "\(n >> 20) MiB" : "\(n) bytes"
    }

    static func probes(_ probes: ContainerProbes?) -> String {
        guard let probes else { return "-" }
        let named: [(String, Probe?)] = [("startup", probes.startup), ("liveness", probes.liveness), ("readiness", probes.readiness)]
        let lines = named.compactMap { name, probe -> String? in
            guard let probe else { return nil }
            let how: String
            switch probe.handler {
            case .exec(let command): how = "exec \(command.joined(separator: " ").prefix(40))"
            case .httpGet(let path, let port, _, _): how = "httpGet :\(port)\(path)"
            case .tcpSocket(let port): how = "tcpSocket :\(port)"
            }
            return "\(name) \(how) every \(probe.periodSeconds)s"
        }
        return lines.isEmpty ? "-" : lines.joined(separator: "; ")
    }

    func instancePage(_ s: Session, id: String) async throws -> Response {
        guard let instances, let i = try? await instances.get(id: id, account: s.account) else { return notFound(s, "No instance \(id).") }
        return await render(
            "instancePage", title: i.name, session: s, active: "instances",
            body: InstancePageBody(id: i.id, restartPolicy: i.restartPolicy.rawValue, live: live(i)))
    }

    func instanceLive(_ s: Session, id: String) async throws -> Response {
        guard let instances, let i = try? await instances.get(id: id, account: s.account) else {
            return Self.text("not found", status: .notFound)
        }
        return await renderFragment("instanceLive", live(i))
    }

    func live(_ i: Instance) async -> InstanceLive {
        InstanceLive(
            final: i.status == .succeeded || i.status == .failed, status: i.status.rawValue, outcome: i.cacheOutcome?.rawValue ?? "-",
            cacheID: i.cacheID, disk: i.diskID.map { .init(id: $0, size: i.diskSizeGiB ?? 0, type: i.cache.diskType.rawValue) },
            address: i.privateIP.map { "\($0) in \(i.vpcID ?? "")" },
            eip: i.eip.map { "\($0.address) (\($0.id)\($0.bandwidthMbps.map { ", \($0) Mbit/s out" } ?? ""))" },
            volumes: i.volumes.map { v in
                let mounts = (i.initContainers + i.containers).flatMap { c in
                    (c.volumeMounts ?? []).filter { $0.name == v.name }.map {
                        "\(c.name):\($0.mountPath)\($0.subPath.map { " (\($0))" } ?? "")\($0.readOnly ? " ro" : "")"
                    }
                }
                return .init(name: v.name, kind: Self.kind(of: v.source), mounts: mounts.joined(separator: ", "))
            },
            timeline: Timeline(i),
            containers: (i.initContainers + i.containers).map { c in
                let st = i.states[c.name]
                let running = st?.state == .running
                return .init(
                    name: c.name, image: c.image, state: st?.state.rawValue ?? "-", reason: st?.reason,
                    exitCode: st?.exitCode.map(String.init) ?? "-",
                    restarts: st?.restartCount ?? 0,
                    ready: !running ? "-" : (st?.ready ?? (c.probes?.readiness == nil)) ? "yes" : "no",
                    probes: Self.probes(c.probes))
            },
            events: i.events.map(EventRow.init),
            logs: await (try? instances?.logs(id: i.id, account: i.account, container: nil, tail: 50, limitBytes: 65536).1) ?? "")
    }
}

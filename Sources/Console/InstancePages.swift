import Foundation
import Hummingbird
import IMCCache
import IMCInstance
import IMCService
import IMCStore

/// The instances: each with its image cache result and its start-up as a timeline, a chart of
/// cold against cached start times, a form to run one, and an instance's page.
extension Console {
    /// Milliseconds from creation to the last container started (nil: not started).
    static func startedMilliseconds(_ i: Instance) -> Double? {
        let started = i.phases.filter { $0.name.hasPrefix("Started:") }
        guard started.count >= i.containers.count, let last = started.map(\.at).max() else { return nil }
        return last.timeIntervalSince(i.creationTime) * 1000
    }

    /// The start-up phases as bars on one time axis (SVG).
    static func timeline(_ i: Instance, width: Double = 520) -> String {
        let marks = i.phases.map { ($0.name, $0.at.timeIntervalSince(i.creationTime) * 1000) }
        guard let end = marks.map(\.1).max(), end > 0 else { return "<span class=\"muted\">-</span>" }
        var rows: [String] = []
        var previous = 0.0
        for (n, (name, ms)) in marks.enumerated() {
            let x = previous / end * width
            let w = max(1.5, (ms - previous) / end * width)
            rows.append(
                "<g><rect x=\"\(Int(x))\" y=\"\(n * 14)\" width=\"\(Int(w))\" height=\"11\" fill=\"#0052d9\"><title>\(HTML.escape(name)): \(Int(ms)) ms</title></rect>"
                    + "<text x=\"\(Int(min(width + 6, x + w + 4)))\" y=\"\(n * 14 + 10)\" font-size=\"10\">\(HTML.escape(name)) \(Int(ms)) ms</text></g>"
            )
            previous = ms
        }
        return "<svg class=\"timeline\" width=\"\(Int(width) + 260)\" height=\"\(marks.count * 14)\">\(rows.joined())</svg>"
    }

    /// Start times of the last instances, cached (from an image cache) against cold (pulled).
    static func chart(_ list: [Instance]) -> String {
        let points = list.reversed().compactMap { i -> (String, Double, Bool)? in
            guard let ms = startedMilliseconds(i) else { return nil }
            return (i.id, ms, i.cacheOutcome == .used)
        }.suffix(30)
        guard let top = points.map(\.1).max(), top > 0 else { return "<p class=\"muted\">No instance has started yet.</p>" }
        let barWidth = 22
        let height = 160.0
        let bars = points.enumerated().map { n, p in
            let h = max(2, p.1 / top * height)
            return
                "<rect x=\"\(n * (barWidth + 6))\" y=\"\(Int(height - h))\" width=\"\(barWidth)\" height=\"\(Int(h))\" fill=\"\(p.2 ? "#0a8a3a" : "#b06f00")\"><title>\(p.0): \(Int(p.1)) ms (\(p.2 ? "cached" : "cold"))</title></rect>"
        }
        let cached = points.filter(\.2).map(\.1)
        let cold = points.filter { !$0.2 }.map(\.1)
        func median(_ v: [Double]) -> String { v.isEmpty ? "-" : "\(Int(v.sorted()[v.count / 2])) ms" }
        return """
            <svg id="start-chart" width="\(points.count * (barWidth + 6))" height="\(Int(height))">\(bars.joined())</svg>
            <p><span style="color:#0a8a3a">■</span> with an image cache (median \(median(cached)))
            &nbsp; <span style="color:#b06f00">■</span> images pulled (median \(median(cold)))</p>
            """
    }

    func instanceList(_ s: Session) throws -> String {
        guard let instances else {
            return HTML.page(title: "Instances", account: s.account, active: "instances", body: "<p>Instances are not served here.</p>")
        }
        var q = InstanceQuery()
        q.limit = 100
        let (total, list) = try instances.describe(account: s.account, query: q)
        let rows = list.map { i -> String in
            """
            <tr data-id="\(i.id)"><td><a href="/console/instances/\(i.id)">\(HTML.escape(i.name))</a><br><code>\(i.id)</code></td>
            <td><span class="status \(i.status.rawValue)">\(i.status.rawValue)</span></td>
            <td class="match">\(i.cacheOutcome?.rawValue ?? "-")\(i.cacheID.map { "<br><code>\($0)</code>" } ?? "")</td>
            <td>\(Self.startedMilliseconds(i).map { "\(Int($0)) ms" } ?? "-")</td><td>\(Self.timeline(i, width: 260))</td></tr>
            """
        }
        return HTML.page(
            title: "Instances", account: s.account, active: "instances",
            body: """
                <p><a class="button" id="run" href="/console/instances/new">Run an instance</a> <span class="muted">\(total) instance(s)</span></p>
                <h2>Start-up: cached against cold</h2>\(Self.chart(list))
                <table id="instances"><tr><th>Instance</th><th>Status</th><th>Image cache</th><th>Started after</th><th>Start-up phases</th></tr>
                \(rows.joined(separator: "\n"))</table>
                """,
            script: list.contains { $0.status == .pending || $0.status == .terminating } ? "setTimeout(() => location.reload(), 1000)" : "")
    }

    func runPage(_ s: Session, form: Form?, error: String?, cache: String? = nil) throws -> String {
        var q = CacheQuery()
        q.statuses = [.ready]
        q.limit = 50
        let ready = try caches.describe(account: s.account, query: q).caches
        let chosen = form?["cache"] ?? cache ?? "auto"
        let options =
            [
                "<option value=\"auto\"\(chosen == "auto" ? " selected" : "")>auto: the best matching cache</option>",
                "<option value=\"none\"\(chosen == "none" ? " selected" : "")>none: pull the images</option>",
            ]
            + ready.map { "<option value=\"\($0.id)\"\(chosen == $0.id ? " selected" : "")>\($0.id) (\(HTML.escape($0.name)))</option>" }
        return HTML.page(
            title: "Run an instance", account: s.account, active: "instances",
            body: """
                \(error.map { "<p class=\"error\" id=\"run-error\">\(HTML.escape($0))</p>" } ?? "")
                <form method="post" action="/console/instances" class="card" id="run-form">
                  <label for="name">Name</label><input id="name" name="name" value="\(HTML.escape(form?["name"] ?? ""))">
                  <label for="image">Image</label><input id="image" name="image" value="\(HTML.escape(form?["image"] ?? (cache.flatMap { id in ready.first { $0.id == id }?.images.first } ?? "")))">
                  <label for="command">Command <span class="hint">run with /bin/sh -c; empty: the image's own</span></label>
                  <input id="command" name="command" value="\(HTML.escape(form?["command"] ?? ""))">
                  <label for="cache">Image cache</label><select id="cache" name="cache">\(options.joined())</select>
                  <label for="restart">Restart policy</label><select id="restart" name="restart"><option>Never</option><option>OnFailure</option><option>Always</option></select>
                  <p><button id="submit">Run</button></p>
                </form>
                """)
    }

    func runInstance(_ s: Session, _ form: Form) throws -> Response {
        guard let instances else { return Self.text("instances are not served here", status: .notFound) }
        var request = InstanceRequest()
        if !form["name"].isEmpty { request.name = form["name"] }
        var container = ContainerSpec(name: "main", image: form["image"])
        if !form["command"].isEmpty { container.commands = ["/bin/sh", "-c", form["command"]] }
        request.containers = [container]
        request.restartPolicy = RestartPolicy(rawValue: form["restart"]) ?? .never
        switch form["cache"] {
        case "none": request.cache.use = nil
        case "", "auto": request.cache.use = "auto"
        case let id: request.cache.use = id
        }
        do {
            let created = try instances.create(request, account: s.account, region: s.region)
            return Self.redirect("/console/instances/\(created[0].id)")
        } catch let e as ServiceError {
            let message = e.message
            return Self.html(
                try runPage(s, form: form, error: message.replacingOccurrences(of: "Containers[0].", with: "")), status: .badRequest)
        }
    }

    func instancePage(_ s: Session, id: String) throws -> Response {
        guard let instances, let i = try? instances.get(id: id, account: s.account) else {
            return Self.html(
                HTML.page(title: "Not found", account: s.account, body: "<p>No instance \(HTML.escape(id)).</p>"), status: .notFound)
        }
        let body = """
            <div class="card"><p><code>\(i.id)</code> &nbsp; restart policy \(i.restartPolicy.rawValue)
            &nbsp; <form method="post" action="/console/instances/\(i.id)/delete" class="inline"><button class="danger" id="delete">Delete</button></form></p></div>
            <div id="live">\(try instanceFragment(i))</div>
            """
        let script = """
            const live = document.getElementById('live');
            async function refresh() {
              const r = await fetch('/console/instances/\(i.id)/live', {cache: 'no-store'});
              if (r.ok) live.innerHTML = await r.text();
              if (!live.querySelector('[data-final]')) setTimeout(refresh, 700);
            }
            setTimeout(refresh, 700);
            """
        return Self.html(HTML.page(title: i.name, account: s.account, active: "instances", body: body, script: script))
    }

    func instanceLive(_ s: Session, id: String) throws -> Response {
        guard let instances, let i = try? instances.get(id: id, account: s.account) else {
            return Self.text("not found", status: .notFound)
        }
        return Self.html(try instanceFragment(i))
    }

    func instanceFragment(_ i: Instance) throws -> String {
        let final = i.status == .succeeded || i.status == .failed
        let containers = (i.initContainers + i.containers).map { c -> String in
            let st = i.states[c.name]
            return
                "<tr><td>\(HTML.escape(c.name))</td><td>\(HTML.escape(c.image))</td><td>\(st?.state.rawValue ?? "-")\(st?.reason.map { " (\(HTML.escape($0)))" } ?? "")</td><td>\(st?.exitCode.map(String.init) ?? "-")</td><td>\(st?.restartCount ?? 0)</td></tr>"
        }
        let events = i.events.map { e in
            "<tr><td>\(HTML.time(e.lastTimestamp))</td><td class=\"\(e.type.rawValue)\">\(e.type.rawValue)</td><td>\(HTML.escape(e.reason))</td><td>\(HTML.escape(e.message))\(e.count > 1 ? " (x\(e.count))" : "")</td></tr>"
        }
        let logs = (try? instances?.logs(id: i.id, account: i.account, container: nil, tail: 50, limitBytes: 65536).1) ?? ""
        return """
            <p\(final ? " data-final" : "")>Status: <span class="status \(i.status.rawValue)" id="status">\(i.status.rawValue)</span>
            &nbsp; Image cache: <b id="match">\(i.cacheOutcome?.rawValue ?? "-")</b> \(i.cacheID.map { "<code>\($0)</code>" } ?? "")
            \(i.diskID.map { " &nbsp; disk <code>\($0)</code> (\(i.diskSizeGiB ?? 0) GiB, \(i.cache.diskType.rawValue))" } ?? "")</p>
            <h2>Start-up</h2>\(Self.timeline(i))
            <h2>Containers</h2><table id="containers"><tr><th>Name</th><th>Image</th><th>State</th><th>Exit code</th><th>Restarts</th></tr>\(containers.joined())</table>
            <h2>Events</h2><table id="events"><tr><th>Time</th><th>Type</th><th>Reason</th><th>Message</th></tr>\(events.joined(separator: "\n"))</table>
            <h2>Logs</h2><pre id="logs" class="card">\(HTML.escape(logs))</pre>
            """
    }
}

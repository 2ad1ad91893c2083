import Foundation
import Hummingbird
import IMCCache
import IMCService
import IMCStore

/// The Image Cache pages: the list, the Create page, and a cache's page with live events.
extension Console {
    func cacheList(_ s: Session) throws -> String {
        var q = CacheQuery()
        q.limit = 50
        let (total, list) = try caches.describe(account: s.account, query: q)
        let rows = list.map { c -> String in
            let p = c.buildProgress
            let progress =
                c.status == .pending || c.status == .updating
                ? " \(HTML.bar(Double(p.done) / Double(p.total))) <span class=\"muted\">\(p.done)/\(p.total)</span>" : ""
            return """
                <tr data-id="\(c.id)"><td><a href="/console/caches/\(c.id)">\(HTML.escape(c.name))</a></td><td><code>\(c.id)</code></td>
                <td><span class="status \(c.status.rawValue)">\(c.status.rawValue)</span>\(progress)</td><td>\(c.size) GiB</td>
                <td>\(c.images.map { HTML.escape($0) }.joined(separator: "<br>"))</td><td>\(HTML.time(c.creationTime))</td>
                <td>\(c.expireDateTime.map { HTML.time($0) } ?? "never")</td><td>\(HTML.time(c.lastMatchedTime))</td></tr>
                """
        }
        let live = list.contains { $0.status == .pending || $0.status == .updating }
        return HTML.page(
            title: "Image Cache", account: s.account, active: "caches",
            body: """
                <p><a class="button" id="create" href="/console/caches/new">Create</a> <span class="muted">\(total) image cache(s) in \(HTML.escape(s.region))</span></p>
                <table id="caches"><tr><th>Name</th><th>ID</th><th>Status</th><th>Size</th><th>Images</th><th>Created</th><th>Expires</th><th>Last matched</th></tr>
                \(rows.joined(separator: "\n"))</table>
                """,
            script: live ? "setTimeout(() => location.reload(), 1500)" : "")
    }

    /// The seed's Create page: name, region, images and versions, image credentials, cache
    /// size, expiration policy.
    func createPage(_ s: Session, form: Form?, errors: [String: String]) -> String {
        func value(_ k: String, _ d: String = "") -> String { HTML.escape(form?[k] ?? d) }
        func error(_ k: String) -> String { errors[k].map { "<p class=\"error\" id=\"error-\(k)\">\(HTML.escape($0))</p>" } ?? "" }
        func cls(_ k: String) -> String { errors[k] != nil ? " class=\"field-error\"" : "" }
        return HTML.page(
            title: "Create image cache", account: s.account, active: "caches",
            body: """
                \(error("form"))
                <form method="post" action="/console/caches" class="card" id="create-form">
                  <div\(cls("name"))><label for="name">Name <span class="hint">up to 60 characters; the id if empty</span></label>
                  <input id="name" name="name" value="\(value("name"))">\(error("name"))</div>
                  <label for="region">Region</label><select id="region" name="region">\(regions.map { "<option\($0 == s.region ? " selected" : "")>\(HTML.escape($0))</option>" }.joined())</select>
                  <div\(cls("images"))><label for="images">Images and versions <span class="hint">one per line, e.g. nginx:1.25</span></label>
                  <textarea id="images" name="images">\(value("images"))</textarea>\(error("images"))</div>
                  <div\(cls("credentials"))><label>Image credentials <span class="hint">for private registries (optional)</span></label>
                  <input id="cred-server" name="credServer" placeholder="registry host" value="\(value("credServer"))">
                  <input id="cred-username" name="credUsername" placeholder="username" value="\(value("credUsername"))">
                  <input id="cred-password" name="credPassword" type="password" placeholder="password">\(error("credentials"))</div>
                  <div\(cls("http"))><label for="http">Registries over plain HTTP <span class="hint">hosts, comma-separated (optional)</span></label>
                  <input id="http" name="http" value="\(value("http"))">\(error("http"))</div>
                  <div\(cls("size"))><label for="size">Cache size (GiB) <span class="hint">at least 20</span></label>
                  <input id="size" name="size" value="\(value("size", "20"))">\(error("size"))</div>
                  <div\(cls("retention"))><label for="retention">Expiration policy <span class="hint">days to keep; 0 keeps it until deleted</span></label>
                  <input id="retention" name="retention" value="\(value("retention", "0"))">\(error("retention"))</div>
                  <p><button id="submit">Create</button> <a href="/console/caches">Cancel</a></p>
                </form>
                """)
    }

    func createCache(_ s: Session, _ form: Form) throws -> Response {
        var errors: [String: String] = [:]
        var request = CacheRequest()
        request.name = form["name"]
        let images = form["images"].split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        if images.isEmpty { errors["images"] = "Name at least one image." }
        request.images = images
        if let size = Int(form["size"]) {
            request.size = size
        } else {
            errors["size"] = "The size must be a whole number of GiB, not \"\(form["size"])\"."
        }
        if let days = Int(form["retention"]) {
            request.retentionDays = days
        } else {
            errors["retention"] = "The expiration must be a whole number of days, not \"\(form["retention"])\"."
        }
        if !form["credServer"].isEmpty || !form["credUsername"].isEmpty || !form["credPassword"].isEmpty {
            if form["credServer"].isEmpty { errors["credentials"] = "Give the registry host the credentials are for." }
            request.credentials = [
                CacheCredential(server: form["credServer"], username: form["credUsername"], password: form["credPassword"])
            ]
        }
        let hosts = form["http"].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if !hosts.isEmpty { request.registryHttpEndPointList = hosts }
        let region = regions.contains(form["region"]) ? form["region"] : s.region
        if errors.isEmpty {
            do {
                let cache = try caches.create(request, account: s.account, region: region)
                return Self.redirect("/console/caches/\(cache.id)")
            } catch let e as ServiceError {
                let message = e.message
                errors[Self.field(of: message)] = message
            }
        }
        return Self.html(createPage(s, form: form, errors: errors), status: .badRequest)
    }

    /// The form field a service message is about (messages start with the API's field name).
    static func field(of message: String) -> String {
        if message.hasPrefix("Images") { return "images" }
        if message.hasPrefix("ImageCacheSize") { return "size" }
        if message.hasPrefix("RetentionDays") { return "retention" }
        if message.hasPrefix("ImageCacheName") { return "name" }
        return "form"
    }

    func cache(_ s: Session, _ id: String) throws -> ImageCache? {
        var q = CacheQuery()
        q.ids = [id]
        q.limit = 1
        return try caches.describe(account: s.account, query: q).caches.first
    }

    func cachePage(_ s: Session, id: String) throws -> Response {
        guard let c = try cache(s, id) else {
            return Self.html(
                HTML.page(title: "Not found", account: s.account, body: "<p>No image cache \(HTML.escape(id)).</p>"), status: .notFound)
        }
        let body = """
            <div class="card"><table>
            <tr><th>ID</th><td><code>\(c.id)</code></td><th>Size</th><td>\(c.size) GiB</td></tr>
            <tr><th>Images</th><td>\(c.images.map { HTML.escape($0) }.joined(separator: "<br>"))</td><th>Snapshot</th><td>\(c.snapshotID ?? "-")</td></tr>
            <tr><th>Created</th><td>\(HTML.time(c.creationTime))</td><th>Expires</th><td>\(c.expireDateTime.map { HTML.time($0) } ?? "never")</td></tr>
            <tr><th>Last matched</th><td>\(HTML.time(c.lastMatchedTime))</td><th>Credentials</th><td>\(c.credentials.map { HTML.escape("\($0.username)@\($0.server)") }.joined(separator: ", "))</td></tr>
            </table>
            <form method="post" action="/console/caches/\(c.id)/delete" class="inline"><button class="danger" id="delete">Delete</button></form>
            <a class="button" href="/console/instances/new?cache=\(c.id)">Run an instance with it</a></div>
            <h2>Build</h2><div id="live">\(liveFragment(c))</div>
            """
        let script = """
            const live = document.getElementById('live');
            async function refresh() {
              if (live.querySelector('[data-final]')) return;
              const r = await fetch('/console/caches/\(c.id)/live', {cache: 'no-store'});
              if (r.ok) live.innerHTML = await r.text();
              setTimeout(refresh, 500);
            }
            setTimeout(refresh, 500);
            """
        return Self.html(HTML.page(title: c.name, account: s.account, active: "caches", body: body, script: script))
    }

    func cacheLive(_ s: Session, id: String) throws -> Response {
        guard let c = try cache(s, id) else { return Self.text("not found", status: .notFound) }
        return Self.html(liveFragment(c))
    }

    /// The status, the build's progress bar and the events (updated while it builds).
    func liveFragment(_ c: ImageCache) -> String {
        let p = c.buildProgress
        let final = c.status == .ready || c.status == .failed || c.status == .updateFailed
        let events = c.events.map { e in
            """
            <tr><td>\(HTML.time(e.lastTimestamp))</td><td class="\(e.type.rawValue)">\(e.type.rawValue)</td><td>\(HTML.escape(e.reason))</td>
            <td>\(HTML.escape(e.message))\(e.count > 1 ? " (x\(e.count))" : "")</td></tr>
            """
        }
        return """
            <p\(final ? " data-final" : "")>Status: <span class="status \(c.status.rawValue)" id="status">\(c.status.rawValue)</span>
            \(HTML.bar(Double(p.done) / Double(p.total), id: "progress")) <span class="muted">\(p.done)/\(p.total): \(HTML.escape(p.step))</span></p>
            <table id="events"><tr><th>Time</th><th>Type</th><th>Reason</th><th>Message</th></tr>\(events.joined(separator: "\n"))</table>
            """
    }
}

import Foundation
import Hummingbird
import IMCCache
import IMCCaches
import IMCModel
import IMCServiceSupport
import IMCStore

/// The Image Cache pages: the list, the Create page, and a cache's page with live events.
extension Console {
    struct CacheRow {
        var id: String
        var name: String
        var status: String
        var progress: Progress?
        var size: Int
        var images: [String]
        var created: String
        var expires: String
        var lastMatched: String
    }

    struct Progress {
        var percent: Int
        var barID: String?
        var done: Int
        var steps: Int
        var step: String

        init(_ c: ImageCache, barID: String? = nil) {
            let p = c.buildProgress
            percent = Bar(p.fraction).percent
            self.barID = barID
            done = p.done
            steps = p.total
            step = p.step ?? (c.status == .pending ? "Waiting for a builder" : c.status.rawValue)
        }
    }

    struct CacheListBody {
        var total: Int
        var region: String
        var rows: [CacheRow]
        var live: Bool
    }

    static func building(_ c: ImageCache) -> Bool { c.status == .pending || c.status == .updating }

    func cacheList(_ s: Session) async throws -> Response {
        var q = CacheQuery()
        q.limit = 50
        let (total, list) = try await caches.describe(account: s.account, query: q)
        let rows = list.map { c in
            CacheRow(
                id: c.id, name: c.name, status: c.status.rawValue, progress: Self.building(c) ? Progress(c) : nil, size: c.size,
                images: c.images,
                created: Self.time(c.creationTime), expires: c.expireDateTime.map { Self.time($0) } ?? "never",
                lastMatched: Self.time(c.lastMatchedTime))
        }
        return render(
            "cacheList", title: "Image Cache", session: s, active: "caches",
            body: CacheListBody(total: total, region: s.region, rows: rows, live: list.contains(where: Self.building)))
    }

    /// The Create form's fields, as posted.
    struct CreateCacheForm: Decodable {
        var name: String?
        var region: String?
        var images: String?
        var credServer: String?
        var credUsername: String?
        var credPassword: String?
        var http: String?
        var size: String?
        var retention: String?
        var platform: String?
        var refresh: String?
    }

    /// What the Create page shows: the values typed (never the password), and the errors.
    struct CreateBody {
        struct Values {
            var name = ""
            var images = ""
            var credServer = ""
            var credUsername = ""
            var http = ""
            var size = "20"
            var retention = "0"
            var refresh = "0"
        }
        struct Choice {
            var name: String
            var selected: Bool
        }
        struct Region {
            var name: String
            var selected: Bool
        }
        var form: Values
        var errors: [String: String]
        var regions: [Region]
        var platforms: [Choice]
    }

    /// The seed's Create page: name, region, images and versions, image credentials, cache
    /// size, expiration policy.
    func createPage(_ s: Session, form: CreateCacheForm?, errors: [String: String]) -> Response {
        var values = CreateBody.Values()
        if let form {
            values = .init(
                name: typed(form.name), images: typed(form.images), credServer: typed(form.credServer),
                credUsername: typed(form.credUsername),
                http: typed(form.http), size: typed(form.size), retention: typed(form.retention), refresh: typed(form.refresh))
        }
        let chosen = form.map { typed($0.region) } ?? s.region
        let platform = form.map { typed($0.platform) } ?? Platform.host.description
        return render(
            "createCache", title: "Create image cache", session: s, active: "caches",
            body: CreateBody(
                form: values, errors: errors, regions: regions.map { .init(name: $0, selected: $0 == chosen) },
                platforms: ["linux/amd64", "linux/arm64"].map { .init(name: $0, selected: $0 == platform) }),
            status: errors.isEmpty ? .ok : .badRequest)
    }

    func createCache(_ s: Session, _ form: CreateCacheForm) async throws -> Response {
        var errors: [String: String] = [:]
        var request = CacheRequest()
        request.name = typed(form.name)
        let images = typed(form.images).split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        if images.isEmpty { errors["images"] = "Name at least one image." }
        request.images = images
        if let size = Int(typed(form.size)) {
            request.size = size
        } else {
            errors["size"] = "The size must be a whole number of GiB, not \"\(typed(form.size))\"."
        }
        if let days = Int(typed(form.retention)) {
            request.retentionDays = days
        } else {
            errors["retention"] = "The expiration must be a whole number of days, not \"\(typed(form.retention))\"."
        }
        let refresh = typed(form.refresh)
        if let minutes = Int(refresh.isEmpty ? "0" : refresh) {
            request.refreshMinutes = minutes
        } else {
            errors["refresh"] = "The refresh interval must be a whole number of minutes, not \"\(refresh)\"."
        }
        if !typed(form.platform).isEmpty { request.platform = typed(form.platform) }
        let (server, username, password) = (typed(form.credServer), typed(form.credUsername), form.credPassword ?? "")
        if !server.isEmpty || !username.isEmpty || !password.isEmpty {
            if server.isEmpty { errors["credentials"] = "Give the registry host the credentials are for." }
            request.credentials = [CacheCredential(server: server, username: username, password: password)]
        }
        let hosts = typed(form.http).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if !hosts.isEmpty { request.registryHttpEndPointList = hosts }
        let region = regions.contains(typed(form.region)) ? typed(form.region) : s.region
        if errors.isEmpty {
            do {
                let cache = try await caches.create(request, account: s.account, region: region)
                return Self.redirect("/console/caches/\(cache.id)")
            } catch let e as ServiceError {
                errors[Self.field(of: e)] = e.message
            }
        }
        return createPage(s, form: form, errors: errors)
    }

    /// The form's input a service refusal is about (the refusal names the API's field).
    static func field(of error: ServiceError) -> String {
        switch error.field?.root {
        case "Images": "images"
        case "ImageCacheSize": "size"
        case "RetentionDays": "retention"
        case "ImageCacheName": "name"
        case "RefreshIntervalMinutes": "refresh"
        case "Platform": "platform"
        default: "form"
        }
    }

    func cache(_ s: Session, _ id: String) async throws -> ImageCache? {
        var q = CacheQuery()
        q.ids = [id]
        q.limit = 1
        return try await caches.describe(account: s.account, query: q).caches.first
    }

    struct CachePageBody {
        var id: String
        var size: Int
        var images: [String]
        var snapshot: String
        var created: String
        var expires: String
        var lastMatched: String
        var credentials: [String]
        var platform: String
        var refresh: String
        /// While an update builds or after it failed: which snapshot (and images) serve.
        var serving: String?
        var live: CacheLive
        /// The Update form: the images one per line, the retention in days, and why the last
        /// update was refused.
        var imagesText: String
        var retention: Int
        var updateError: String?
    }

    /// The Update form's fields, as posted.
    struct UpdateCacheForm: Decodable {
        var images: String?
        var size: String?
        var retention: String?
    }

    func updateCache(_ s: Session, id: String, _ form: UpdateCacheForm) async throws -> Response {
        var request = CacheRequest()
        let images = typed(form.images).split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        guard !images.isEmpty else { return try await cachePage(s, id: id, updateError: "Name at least one image.") }
        guard let size = Int(typed(form.size)) else {
            return try await cachePage(s, id: id, updateError: "The size must be a whole number of GiB, not \"\(typed(form.size))\".")
        }
        guard let days = Int(typed(form.retention)) else {
            return try await cachePage(
                s, id: id, updateError: "The expiration must be a whole number of days, not \"\(typed(form.retention))\".")
        }
        guard let current = try await cache(s, id) else { return notFound(s, "No image cache \(id).") }
        if images != current.images { request.images = images }
        if size != current.size { request.size = size }
        if days != (current.retentionDays ?? 0) { request.retentionDays = days }
        do {
            _ = try await caches.update(id: id, request, account: s.account)
        } catch let e as ServiceError {
            return try await cachePage(s, id: id, updateError: e.message)
        }
        return Self.redirect("/console/caches/\(id)")
    }

    struct EventRow {
        var time: String
        var type: String
        var reason: String
        var message: String

        init(_ e: CacheEvent) {
            time = Console.time(e.lastTimestamp)
            type = e.type.rawValue
            reason = e.reason
            message = e.count > 1 ? "\(e.message) (x\(e.count))" : e.message
        }
    }

    /// The status, the build's progress bar and the events (updated while it builds).
    struct CacheLive {
        var final: Bool
        var status: String
        var progress: Progress
        var events: [EventRow]

        init(_ c: ImageCache) {
            final = c.status == .ready || c.status == .failed || c.status == .updateFailed
            status = c.status.rawValue
            progress = Progress(c, barID: "progress")
            events = c.events.map(EventRow.init)
        }
    }

    func cachePage(_ s: Session, id: String, updateError: String? = nil) async throws -> Response {
        guard let c = try await cache(s, id) else { return notFound(s, "No image cache \(id).") }
        let body = CachePageBody(
            id: c.id, size: c.size, images: c.images, snapshot: c.snapshotID ?? "-", created: Self.time(c.creationTime),
            expires: c.expireDateTime.map { Self.time($0) } ?? "never", lastMatched: Self.time(c.lastMatchedTime),
            credentials: c.credentials.map { "\($0.username)@\($0.server)" }, platform: c.platformName,
            refresh: c.refreshMinutes.map { "tags checked every \($0) min; rebuilt when one moves" } ?? "never",
            serving: (c.status == .updating || c.status == .updateFailed) && c.snapshotID != nil
                ? "\(c.servedSnapshotNote) (\(c.servedImages.joined(separator: ", ")), \(c.servedSize) GiB): instances still start from it"
                : nil,
            live: CacheLive(c), imagesText: c.images.joined(separator: "\n"), retention: c.retentionDays ?? 0, updateError: updateError)
        return render(
            "cachePage", title: c.name, session: s, active: "caches", body: body, status: updateError == nil ? .ok : .badRequest)
    }

    func cacheLive(_ s: Session, id: String) async throws -> Response {
        guard let c = try await cache(s, id) else { return Self.text("not found", status: .notFound) }
        return renderFragment("cacheLive", CacheLive(c))
    }
}

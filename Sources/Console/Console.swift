import Foundation
import HTTPTypes
import Hummingbird
import IMCModel
import IMCService
import Synchronization

/// The web console at `/console`: the seed's Image Cache list, Create page and cache page (its
/// events live while it builds), the instances with their match result and start-up timeline,
/// and the bill. Pages are rendered on the server from the same services the API calls, for the
/// account signed in with its SecretId and SecretKey; another account's ids are not found.
public struct Console: Sendable {
    let caches: CacheService
    let instances: InstanceService?
    let billing: BillingService?
    /// The account of a key pair, or nil when the pair is wrong.
    let authenticate: @Sendable (String, String) -> String?
    let regions: [String]
    let sessions = Sessions()
    let now: @Sendable () -> Date

    public init(
        caches: CacheService, instances: InstanceService?, billing: BillingService?, regions: [String],
        now: @escaping @Sendable () -> Date = { Date() }, authenticate: @escaping @Sendable (String, String) -> String?
    ) {
        self.caches = caches
        self.instances = instances
        self.billing = billing
        self.regions = regions
        self.now = now
        self.authenticate = authenticate
    }

    /// A signed-in browser.
    struct Session: Sendable {
        var account: String
        var region: String
        var expires: Date
    }

    final class Sessions: Sendable {
        private let table = Mutex<[String: Session]>([:])
        func open(_ s: Session) -> String {
            var bytes = [UInt8](repeating: 0, count: 32)
            var g = SystemRandomNumberGenerator()
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &g) }
            let token = Hex.encode(bytes)
            table.withLock { $0[token] = s }
            return token
        }
        func get(_ token: String, now: Date) -> Session? {
            table.withLock { t in
                guard let s = t[token] else { return nil }
                if s.expires < now {
                    t[token] = nil
                    return nil
                }
                return s
            }
        }
        func close(_ token: String) { _ = table.withLock { $0.removeValue(forKey: token) } }
    }

    static let cookie = "imc_console"

    /// Failed sign-ins by SecretId: after 5 within 5 minutes, that SecretId is refused for the
    /// rest of those 5 minutes (a password-guessing brake; the API's signatures need no such
    /// thing, a guess there costs a SecretKey).
    final class Throttle: Sendable {
        private let failures = Mutex<[String: [Date]]>([:])
        static let window: TimeInterval = 300
        static let limit = 5
        func blocked(_ id: String, now: Date) -> TimeInterval? {
            failures.withLock { f in
                let recent = (f[id] ?? []).filter { now.timeIntervalSince($0) < Self.window }
                f[id] = recent
                guard recent.count >= Self.limit, let first = recent.first else { return nil }
                return Self.window - now.timeIntervalSince(first)
            }
        }
        func failed(_ id: String, now: Date) { failures.withLock { $0[id, default: []].append(now) } }
        func succeeded(_ id: String) { _ = failures.withLock { $0.removeValue(forKey: id) } }
    }
    let throttle = Throttle()

    func token(_ request: Request) -> String? {
        for field in request.headers where field.name == .cookie {
            for part in field.value.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == Self.cookie { return String(kv[1]) }
            }
        }
        return nil
    }

    public func respond(to request: Request) async throws -> Response {
        let path = request.uri.path
        let parts = path.split(separator: "/").map(String.init)  // ["console", ...]
        let method = request.method
        var body: [UInt8] = []
        if method == .post {
            body = Array(buffer: try await request.body.collect(upTo: 256 << 10))
            // Forms are posted from the console's own pages only: a browser sends the page's
            // origin, which must be this host (the session cookie is SameSite=Strict as well).
            if let origin = request.headers[.origin], let host = request.head.authority, origin != "http://\(host)",
                origin != "https://\(host)"
            {
                return Self.text("cross-origin form refused", status: .forbidden)
            }
        }
        if parts == ["console", "login"] {
            return method == .post ? login(Form(body)) : Self.html(loginPage(error: nil, secretID: ""))
        }
        guard let token = token(request), let session = sessions.get(token, now: now()) else {
            if method == .get && (parts == ["console"] || parts.count > 1) { return Self.redirect("/console/login") }
            return Self.text("sign in first", status: .unauthorized)
        }
        let rest = Array(parts.dropFirst())
        let get = method == .get
        let post = method == .post
        switch rest.count {
        case 0 where get: return Self.html(try cacheList(session))
        case 1 where post && rest[0] == "logout":
            sessions.close(token)
            var r = Self.redirect("/console/login")
            r.headers[.setCookie] = "\(Self.cookie)=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"
            return r
        case 1 where get && rest[0] == "caches": return Self.html(try cacheList(session))
        case 1 where post && rest[0] == "caches": return try createCache(session, Form(body))
        case 1 where get && rest[0] == "instances": return Self.html(try instanceList(session))
        case 1 where post && rest[0] == "instances": return try runInstance(session, Form(body))
        case 1 where get && rest[0] == "bill": return Self.html(try billPage(session, query: request.uri.queryParameters))
        case 2 where get && rest == ["caches", "new"]: return Self.html(createPage(session, form: nil, errors: [:]))
        case 2 where get && rest == ["instances", "new"]:
            return Self.html(try runPage(session, form: nil, error: nil, cache: request.uri.queryParameters["cache"].map(String.init)))
        case 2 where get && rest[0] == "caches": return try cachePage(session, id: rest[1])
        case 2 where get && rest[0] == "instances": return try instancePage(session, id: rest[1])
        case 3 where get && rest[0] == "caches" && rest[2] == "live": return try cacheLive(session, id: rest[1])
        case 3 where get && rest[0] == "instances" && rest[2] == "live": return try instanceLive(session, id: rest[1])
        case 3 where post && rest[0] == "caches" && rest[2] == "delete":
            try? caches.delete(ids: [rest[1]], account: session.account)
            return Self.redirect("/console/caches")
        case 3 where post && rest[0] == "instances" && rest[2] == "delete":
            try? instances?.delete(ids: [rest[1]], account: session.account)
            return Self.redirect("/console/instances")
        default:
            return Self.html(HTML.page(title: "Not found", account: session.account, body: "<p>No such page.</p>"), status: .notFound)
        }
    }

    // MARK: - Sign in

    func loginPage(error: String?, secretID: String) -> String {
        HTML.page(
            title: "Sign in", account: nil,
            body: """
                <form method="post" action="/console/login" class="card" id="login">
                  \(error.map { "<p class=\"error\" id=\"login-error\">\(HTML.escape($0))</p>" } ?? "")
                  <label for="secret-id">SecretId</label><input id="secret-id" name="SecretId" value="\(HTML.escape(secretID))" autocomplete="username">
                  <label for="secret-key">SecretKey</label><input id="secret-key" name="SecretKey" type="password" autocomplete="current-password">
                  <label for="region">Region</label><select id="region" name="Region">\(regions.map { "<option>\(HTML.escape($0))</option>" }.joined())</select>
                  <p><button id="sign-in">Sign in</button></p>
                </form>
                """)
    }

    func login(_ form: Form) -> Response {
        let id = form["SecretId"]
        if let wait = throttle.blocked(id, now: now()) {
            return Self.html(
                loginPage(error: "Too many failed sign-ins for this SecretId; try again in \(Int(wait.rounded(.up))) s.", secretID: id),
                status: .tooManyRequests)
        }
        guard let account = authenticate(id, form["SecretKey"]) else {
            throttle.failed(id, now: now())
            return Self.html(loginPage(error: "The SecretId or SecretKey is wrong.", secretID: id), status: .unauthorized)
        }
        throttle.succeeded(id)
        let region = regions.contains(form["Region"]) ? form["Region"] : regions.first ?? "ap-guangzhou"
        let token = sessions.open(Session(account: account, region: region, expires: now().addingTimeInterval(8 * 3600)))
        var r = Self.redirect("/console/caches")
        r.headers[.setCookie] = "\(Self.cookie)=\(token); Path=/console; HttpOnly; SameSite=Strict; Max-Age=28800"
        return r
    }

    // MARK: - Responses

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func text(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import IMCBillingService
import IMCCaches
import IMCDoors
import IMCInstances
import IMCModel
import Mustache

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
    let throttle = Throttle()
    let clock: any ServiceClock
    let templates: MustacheLibrary

    public init(
        caches: CacheService, instances: InstanceService?, billing: BillingService?, regions: [String],
        clock: any ServiceClock = SystemClock(), authenticate: @escaping @Sendable (String, String) -> String?
    ) throws {
        self.caches = caches
        self.instances = instances
        self.billing = billing
        self.regions = regions
        self.clock = clock
        self.authenticate = authenticate
        templates = try Templates.library()
    }

    static let cookie = "imc_console"

    /// Adds the console's routes under `/console` to `router`.
    public func addRoutes(to router: Router<DoorContext>) async {
        let c = self
        let group = router.group("console").add(middleware: SameOriginForms())
        group.get { request, _ in await c.signedIn(request) == nil ? Self.redirect("/console/login") : try c.cacheList(c.signedIn(request)!)
        }
        group.get("login") { _, _ in c.loginPage(error: nil, secretID: "") }
        group.post("login") { request, context in try await c.login(request, from: context.clientAddress) }
        group.post("logout") { request, _ in c.logout(request) }
        group.get("caches") { request, _ in try await c.page(request) { try await c.cacheList($0) } }
        group.post("caches") { request, _ in
            try await c.form(request, as: CreateCacheForm.self) { s, form in try await c.createCache(s, form) }
        }
        group.get("caches/new") { request, _ in try await c.page(request) { c.createPage($0, form: nil, errors: [:]) } }
        group.get("caches/:id") { request, context in
            try await c.page(request) { try await c.cachePage($0, id: context.parameters.get("id") ?? "") }
        }
        group.get("caches/:id/live") { request, context in
            try await c.fragment(request) { try await c.cacheLive($0, id: context.parameters.get("id") ?? "") }
        }
        group.post("caches/:id/update") { request, context in
            try await c.form(request, as: UpdateCacheForm.self) { s, form in
                try await c.updateCache(s, id: context.parameters.get("id") ?? "", form)
            }
        }
        group.post("caches/:id/delete") { request, context in
            try await c.action(request) { s in
                try? await c.caches.delete(ids: [context.parameters.get("id") ?? ""], account: s.account)
                return Self.redirect("/console/caches")
            }
        }
        group.get("instances") { request, _ in try await c.page(request) { try await c.instanceList($0) } }
        group.post("instances") { request, _ in try await c.form(request, as: RunForm.self) { s, form in try await c.runInstance(s, form) }
        }
        group.get("instances/new") { request, _ in
            try await c.page(request) {
                try await c.runPage($0, form: nil, error: nil, cache: request.uri.queryParameters["cache"].map(String.init))
            }
        }
        group.get("instances/:id") { request, context in
            try await c.page(request) { try await c.instancePage($0, id: context.parameters.get("id") ?? "") }
        }
        group.get("instances/:id/live") { request, context in
            try await c.fragment(request) { try await c.instanceLive($0, id: context.parameters.get("id") ?? "") }
        }
        group.post("instances/:id/delete") { request, context in
            try await c.action(request) { s in
                try? await c.instances?.delete(ids: [context.parameters.get("id") ?? ""], account: s.account)
                return Self.redirect("/console/instances")
            }
        }
        group.get("bill") { request, _ in try await c.page(request) { try await c.billPage($0, query: request.uri.queryParameters) } }
        group.get("**") { request, _ in try await c.page(request) { c.notFound($0, "No such page.") } }
    }

    /// A signed-in browser.
    struct Session: Sendable {
        var account: String
        var region: String
        var expires: Date
    }

    // MARK: - Sessions

    /// The signed-in browser's session, from its cookie.
    func signedIn(_ request: Request) -> Session? {
        guard let token = request.cookies[Self.cookie]?.value else { return nil }
        return sessions.get(token, now: clock.now())
    }

    /// A page for a signed-in browser; others are sent to sign in.
    func page(_ request: Request, _ body: (Session) async throws -> Response) async throws -> Response {
        guard let session = signedIn(request) else { return Self.redirect("/console/login") }
        return try await body(session)
    }

    /// A live fragment (polled by a page): without a session, 401.
    func fragment(_ request: Request, _ body: (Session) async throws -> Response) async throws -> Response {
        guard let session = signedIn(request) else { return Self.text("sign in first", status: .unauthorized) }
        return try await body(session)
    }

    /// A posted form of a signed-in browser.
    func form<F: Decodable>(_ request: Request, as type: F.Type, _ body: (Session, F) async throws -> Response) async throws -> Response {
        let form = try await decodeForm(F.self, request)
        guard let session = signedIn(request) else { return Self.text("sign in first", status: .unauthorized) }
        return try await body(session, form)
    }

    /// A posted action without fields (a delete) of a signed-in browser.
    func action(_ request: Request, _ body: (Session) async throws -> Response) async throws -> Response {
        guard let session = signedIn(request) else { return Self.text("sign in first", status: .unauthorized) }
        return try await body(session)
    }

    // MARK: - Sign in

    struct LoginBody {
        var error: String?
        var secretID: String
        var regions: [String]
    }

    func loginPage(error: String?, secretID: String, status: HTTPResponse.Status = .ok) -> Response {
        render("login", title: "Sign in", session: nil, body: LoginBody(error: error, secretID: secretID, regions: regions), status: status)
    }

    struct LoginForm: Decodable {
        var SecretId: String?
        var SecretKey: String?
        var Region: String?
    }

    func login(_ request: Request, from address: String?) async throws -> Response {
        let form = try await decodeForm(LoginForm.self, request)
        let id = String(typed(form.SecretId).prefix(128))
        if let wait = throttle.blocked(address: address, secretID: id, now: clock.now()) {
            return loginPage(
                error: "Too many failed sign-ins from this address; try again in \(Int(wait.rounded(.up))) s.", secretID: id,
                status: .tooManyRequests)
        }
        guard let account = authenticate(id, form.SecretKey ?? "") else {
            throttle.failed(address: address, secretID: id, now: clock.now())
            return loginPage(error: "The SecretId or SecretKey is wrong.", secretID: id, status: .unauthorized)
        }
        throttle.succeeded(address: address, secretID: id)
        let region = regions.contains(typed(form.Region)) ? typed(form.Region) : regions.first ?? "ap-guangzhou"
        let token = sessions.open(Session(account: account, region: region, expires: clock.now().addingTimeInterval(8 * 3600)))
        var r = Self.redirect("/console/caches")
        r.setCookie(Cookie(name: Self.cookie, value: token, maxAge: 28800, path: "/console", httpOnly: true, sameSite: .strict))
        return r
    }

    func logout(_ request: Request) -> Response {
        if let token = request.cookies[Self.cookie]?.value { sessions.close(token) }
        var r = Self.redirect("/console/login")
        r.setCookie(Cookie(name: Self.cookie, value: "", maxAge: 0, path: "/console", httpOnly: true, sameSite: .strict))
        return r
    }

    // MARK: - Rendering

    /// What every page's frame shows.
    struct Frame<Body> {
        var title: String
        var account: String?
        var nav: Nav
        var style = Templates.style
        var body: Body
    }

    struct Nav {
        var caches = false
        var instances = false
        var bill = false
    }

    struct Message {
        var text: String
    }

    func render<Body>(
        _ template: String, title: String, session: Session?, active: String = "", body: Body, status: HTTPResponse.Status = .ok
    ) -> Response {
        let nav = Nav(caches: active == "caches", instances: active == "instances", bill: active == "bill")
        let html = templates.render(Frame(title: title, account: session?.account, nav: nav, body: body), withTemplate: template) ?? ""
        return Self.html(html, status: status)
    }

    /// A fragment of a page (a live part), rendered alone.
    func renderFragment(_ template: String, _ object: Any) -> Response {
        Self.html(templates.render(object, withTemplate: template) ?? "")
    }

    func notFound(_ session: Session, _ text: String) -> Response {
        render("message", title: "Not found", session: session, body: Message(text: text), status: .notFound)
    }

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

    /// Time as the console shows it (UTC, seconds).
    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        return date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false))
    }

    /// A progress bar's values.
    struct Bar {
        var percent: Int
        var barID: String?
        init(_ fraction: Double, id: String? = nil) {
            percent = Int((max(0, min(1, fraction)) * 100).rounded())
            barID = id
        }
    }
}

/// Forms are posted from the console's own pages only: a browser sends the page's origin, which
/// must be this host (the session cookie is SameSite=Strict as well).
struct SameOriginForms: RouterMiddleware {
    typealias Context = DoorContext

    func handle(_ request: Request, context: DoorContext, next: (Request, DoorContext) async throws -> Response) async throws -> Response {
        if request.method == .post, let origin = request.headers[.origin], let host = request.head.authority,
            origin != "http://\(host)", origin != "https://\(host)"
        {
            return Console.text("cross-origin form refused", status: .forbidden)
        }
        return try await next(request, context)
    }
}

/// A posted form, decoded with Hummingbird's URL-encoded form decoder (at most 256 KiB).
func decodeForm<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
    let body = try await request.body.collect(upTo: 256 << 10)
    do { return try URLEncodedFormDecoder().decode(T.self, from: String(buffer: body)) } catch {
        throw HTTPError(.badRequest, message: "the form cannot be read")
    }
}

/// A form field as typed, without surrounding space ("" when absent).
func typed(_ value: String?) -> String { (value ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }

import Foundation

/// Small pieces of HTML. Everything that comes from a user or a registry (names, references,
/// event messages) goes through `escape`.
enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A page in the console's frame: navigation for a signed-in account.
    static func page(title: String, account: String?, active: String = "", body: String, script: String = "") -> String {
        let nav =
            account.map { account in
                """
                <nav>
                  <span class="brand">imc console</span>
                  <a href="/console/caches" class="\(active == "caches" ? "on" : "")">Image Cache</a>
                  <a href="/console/instances" class="\(active == "instances" ? "on" : "")">Instances</a>
                  <a href="/console/bill" class="\(active == "bill" ? "on" : "")">Bill</a>
                  <span class="who">account \(escape(account))</span>
                  <form method="post" action="/console/logout" class="inline"><button id="signout">Sign out</button></form>
                </nav>
                """
            } ?? "<nav><span class=\"brand\">imc console</span></nav>"
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) - imc</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>\(css)</style></head>
            <body>\(nav)<main><h1>\(escape(title))</h1>
            \(body)
            </main>
            <script>\(script)</script>
            </body></html>
            """
    }

    static let css = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1d2129;background:#f3f5f8}
        nav{background:#1f2d3d;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center}
        nav a{color:#cfd8e3;text-decoration:none} nav a.on{color:#fff;font-weight:600}
        nav .brand{font-weight:700;margin-right:1em} nav .who{margin-left:auto;color:#9fb0c3}
        main{padding:1.2em 2em;max-width:1200px}
        table{border-collapse:collapse;background:#fff;width:100%;margin:.6em 0 1.4em}
        th,td{border-bottom:1px solid #e5e8ef;padding:.45em .6em;text-align:left;font-size:.92em;vertical-align:top}
        th{background:#f7f8fa;font-weight:600}
        .status{font-weight:600} .Ready,.Running,.Succeeded{color:#0a8a3a} .Failed,.UpdateFailed{color:#c4291c}
        .Pending,.Updating{color:#b06f00}
        .bar{background:#e5e8ef;height:10px;border-radius:5px;width:160px;display:inline-block;vertical-align:middle}
        .bar i{display:block;height:10px;border-radius:5px;background:#0052d9}
        form.card,.card{background:#fff;padding:1em 1.2em;border:1px solid #e5e8ef;margin-bottom:1.2em}
        label{display:block;margin:.7em 0 .2em;font-weight:600} .hint{color:#6b7785;font-weight:400;font-size:.9em}
        input,textarea,select{font:inherit;padding:.35em;border:1px solid #c9cdd4;min-width:320px}
        textarea{min-height:5em}
        .error{color:#c4291c;font-size:.9em;margin:.2em 0} .field-error input,.field-error textarea{border-color:#c4291c}
        button,.button{background:#0052d9;color:#fff;border:0;padding:.45em 1em;cursor:pointer;text-decoration:none;display:inline-block}
        button.danger{background:#c4291c} form.inline{display:inline} .muted{color:#6b7785}
        .Warning{color:#c4291c} code{background:#eef1f5;padding:0 .25em}
        """

    /// A progress bar.
    static func bar(_ fraction: Double, id: String? = nil) -> String {
        let pct = Int((max(0, min(1, fraction)) * 100).rounded())
        return "<span class=\"bar\"\(id.map { " id=\"\($0)\"" } ?? "") title=\"\(pct)%\"><i style=\"width:\(pct)%\"></i></span>"
    }

    /// Time as the console shows it (UTC, seconds).
    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        return escape(date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false)))
    }
}

/// The fields of an `application/x-www-form-urlencoded` body.
struct Form {
    var fields: [String: [String]] = [:]

    init(_ body: [UInt8]) {
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(String(parts[0]))
            fields[key, default: []].append(parts.count > 1 ? Self.decode(String(parts[1])) : "")
        }
    }

    static func decode(_ s: String) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? s }

    subscript(_ key: String) -> String { (fields[key]?.first ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
}

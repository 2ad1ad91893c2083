import Mustache

/// The console's pages as Mustache templates: `{{value}}` is HTML-escaped, so whatever comes
/// from a user or a registry (names, references, event messages, logs) cannot become markup.
/// Only `{{{style}}}` is inserted as it is (the console's own style sheet). Every page fills
/// the `page` frame's blocks.
enum Templates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in all { try library.register(text, named: name) }
        return library
    }

    static let all: [(String, String)] = [
        ("page", page), ("login", login), ("cacheList", cacheList), ("createCache", createCache), ("cachePage", cachePage),
        ("cacheLive", cacheLive), ("instanceList", instanceList), ("runPage", runPage), ("instancePage", instancePage),
        ("instanceLive", instanceLive), ("timeline", timeline), ("bill", bill), ("message", message), ("bar", bar),
    ]

    static let page = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>{{title}} - imc</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>{{{style}}}</style></head>
        <body>{{#account}}<nav>
          <span class="brand">imc console</span>
          <a href="/console/caches" class="{{#nav.caches}}on{{/nav.caches}}">Image Cache</a>
          <a href="/console/instances" class="{{#nav.instances}}on{{/nav.instances}}">Instances</a>
          <a href="/console/bill" class="{{#nav.bill}}on{{/nav.bill}}">Bill</a>
          <span class="who">account {{account}}</span>
          <form method="post" action="/console/logout" class="inline"><button id="signout">Sign out</button></form>
        </nav>{{/account}}{{^account}}<nav><span class="brand">imc console</span></nav>{{/account}}<main><h1>{{title}}</h1>
        {{$body}}{{/body}}
        </main>
        <script>{{$script}}{{/script}}</script>
        </body></html>
        """

    static let message = """
        {{<page}}{{$body}}<p>{{body.text}}</p>{{/body}}{{/page}}
        """

    static let bar = """
        <span class="bar"{{#barID}} id="{{barID}}"{{/barID}} title="{{percent}}%"><i style="width:{{percent}}%"></i></span>
        """

    static let login = """
        {{<page}}{{$body}}
        <form method="post" action="/console/login" class="card" id="login">
          {{#body.error}}<p class="error" id="login-error">{{body.error}}</p>{{/body.error}}
          <label for="secret-id">SecretId</label><input id="secret-id" name="SecretId" value="{{body.secretID}}" autocomplete="username">
          <label for="secret-key">SecretKey</label><input id="secret-key" name="SecretKey" type="password" autocomplete="current-password">
          <label for="region">Region</label><select id="region" name="Region">{{#body.regions}}<option>{{.}}</option>{{/body.regions}}</select>
          <p><button id="sign-in">Sign in</button></p>
        </form>
        {{/body}}{{/page}}
        """

    static let cacheList = """
        {{<page}}{{$body}}
        <p><a class="button" id="create" href="/console/caches/new">Create</a> <span class="muted">{{body.total}} image cache(s) in {{body.region}}</span></p>
        <table id="caches"><tr><th>Name</th><th>ID</th><th>Status</th><th>Size</th><th>Images</th><th>Created</th><th>Expires</th><th>Last matched</th></tr>
        {{#body.rows}}<tr data-id="{{id}}"><td><a href="/console/caches/{{id}}">{{name}}</a></td><td><code>{{id}}</code></td>
        <td><span class="status {{status}}">{{status}}</span>{{#progress}} {{> bar}} <span class="muted progress">{{percent}}%</span>{{/progress}}</td><td>{{size}} GiB</td>
        <td>{{#images}}{{.}}<br>{{/images}}</td><td>{{created}}</td><td>{{expires}}</td><td>{{lastMatched}}</td></tr>
        {{/body.rows}}</table>
        {{/body}}{{$script}}{{#body.live}}setTimeout(() => location.reload(), 1500){{/body.live}}{{/script}}{{/page}}
        """

    static let createCache = """
        {{<page}}{{$body}}
        {{#body.errors.form}}<p class="error" id="error-form">{{body.errors.form}}</p>{{/body.errors.form}}
        <form method="post" action="/console/caches" class="card" id="create-form">
          <div{{#body.errors.name}} class="field-error"{{/body.errors.name}}><label for="name">Name <span class="hint">up to 60 characters; the id if empty</span></label>
          <input id="name" name="name" value="{{body.form.name}}">{{#body.errors.name}}<p class="error" id="error-name">{{body.errors.name}}</p>{{/body.errors.name}}</div>
          <label for="region">Region</label><select id="region" name="region">{{#body.regions}}<option{{#selected}} selected{{/selected}}>{{name}}</option>{{/body.regions}}</select>
          <div{{#body.errors.images}} class="field-error"{{/body.errors.images}}><label for="images">Images and versions <span class="hint">one per line, e.g. nginx:1.25</span></label>
          <textarea id="images" name="images">{{body.form.images}}</textarea>{{#body.errors.images}}<p class="error" id="error-images">{{body.errors.images}}</p>{{/body.errors.images}}</div>
          <div{{#body.errors.credentials}} class="field-error"{{/body.errors.credentials}}><label>Image credentials <span class="hint">for private registries (optional)</span></label>
          <input id="cred-server" name="credServer" placeholder="registry host" value="{{body.form.credServer}}">
          <input id="cred-username" name="credUsername" placeholder="username" value="{{body.form.credUsername}}">
          <input id="cred-password" name="credPassword" type="password" placeholder="password">{{#body.errors.credentials}}<p class="error" id="error-credentials">{{body.errors.credentials}}</p>{{/body.errors.credentials}}</div>
          <div{{#body.errors.http}} class="field-error"{{/body.errors.http}}><label for="http">Registries over plain HTTP <span class="hint">hosts, comma-separated (optional)</span></label>
          <input id="http" name="http" value="{{body.form.http}}"></div>
          <div{{#body.errors.size}} class="field-error"{{/body.errors.size}}><label for="size">Cache size (GiB) <span class="hint">at least 20</span></label>
          <input id="size" name="size" value="{{body.form.size}}">{{#body.errors.size}}<p class="error" id="error-size">{{body.errors.size}}</p>{{/body.errors.size}}</div>
          <div{{#body.errors.retention}} class="field-error"{{/body.errors.retention}}><label for="retention">Expiration policy <span class="hint">days to keep; 0 keeps it until deleted</span></label>
          <input id="retention" name="retention" value="{{body.form.retention}}">{{#body.errors.retention}}<p class="error" id="error-retention">{{body.errors.retention}}</p>{{/body.errors.retention}}</div>
          <div{{#body.errors.platform}} class="field-error"{{/body.errors.platform}}><label for="platform">OS and architecture <span class="hint">the images are cached for this platform; only caches of the instances' platform are used</span></label>
          <select id="platform" name="platform">{{#body.platforms}}<option{{#selected}} selected{{/selected}}>{{name}}</option>{{/body.platforms}}</select>{{#body.errors.platform}}<p class="error" id="error-platform">{{body.errors.platform}}</p>{{/body.errors.platform}}</div>
          <div{{#body.errors.refresh}} class="field-error"{{/body.errors.refresh}}><label for="refresh">Refresh when a tag moves <span class="hint">minutes between checks of the images' tags; 0 never</span></label>
          <input id="refresh" name="refresh" value="{{body.form.refresh}}">{{#body.errors.refresh}}<p class="error" id="error-refresh">{{body.errors.refresh}}</p>{{/body.errors.refresh}}</div>
          <p><button id="submit">Create</button> <a href="/console/caches">Cancel</a></p>
        </form>
        {{/body}}{{/page}}
        """

    static let cachePage = """
        {{<page}}{{$body}}
        <div class="card"><table>
        <tr><th>ID</th><td><code>{{body.id}}</code></td><th>Size</th><td>{{body.size}} GiB</td></tr>
        <tr><th>Images</th><td>{{#body.images}}{{.}}<br>{{/body.images}}</td><th>Snapshot</th><td>{{body.snapshot}}</td></tr>
        <tr><th>Created</th><td>{{body.created}}</td><th>Expires</th><td>{{body.expires}}</td></tr>
        <tr><th>Last matched</th><td>{{body.lastMatched}}</td><th>Credentials</th><td>{{#body.credentials}}{{.}} {{/body.credentials}}</td></tr>
        <tr><th>Platform</th><td id="platform">{{body.platform}}</td><th>Refresh</th><td id="refresh">{{body.refresh}}</td></tr>
        {{#body.serving}}<tr><th>Serving</th><td colspan="3" id="serving">{{body.serving}}</td></tr>{{/body.serving}}
        </table>
        <form method="post" action="/console/caches/{{body.id}}/delete" class="inline"><button class="danger" id="delete">Delete</button></form>
        <a class="button" href="/console/instances/new?cache={{body.id}}">Run an instance with it</a></div>
        <h2>Update</h2>
        <form method="post" action="/console/caches/{{body.id}}/update" class="card" id="update-form">
          {{#body.updateError}}<p class="error" id="update-error">{{body.updateError}}</p>{{/body.updateError}}
          <label for="update-images">Images <span class="hint">one per line; a change rebuilds the cache, and instances start from the current snapshot meanwhile</span></label>
          <textarea id="update-images" name="images" rows="3">{{body.imagesText}}</textarea>
          <label for="update-size">Size <span class="hint">GiB; a larger size rebuilds</span></label><input id="update-size" name="size" value="{{body.size}}">
          <label for="update-retention">Expiration <span class="hint">days unused; 0: kept until deleted</span></label><input id="update-retention" name="retention" value="{{body.retention}}">
          <p><button id="update">Update</button></p>
        </form>
        <h2>Build</h2><div id="live">{{#body.live}}{{> cacheLive}}{{/body.live}}</div>
        {{/body}}{{$script}}
        const live = document.getElementById('live');
        async function refresh() {
          if (live.querySelector('[data-final]')) return;
          const r = await fetch('/console/caches/{{body.id}}/live', {cache: 'no-store'});
          if (r.ok) live.innerHTML = await r.text();
          setTimeout(refresh, 500);
        }
        setTimeout(refresh, 500);
        {{/script}}{{/page}}
        """

    static let cacheLive = """
        <p{{#final}} data-final{{/final}}>Status: <span class="status {{status}}" id="status">{{status}}</span>
        {{#progress}}{{> bar}} <span class="muted progress">{{percent}}%: {{step}}</span>{{/progress}}</p>
        <table id="events"><tr><th>Time</th><th>Type</th><th>Reason</th><th>Message</th></tr>{{#events}}
        <tr><td>{{time}}</td><td class="{{type}}">{{type}}</td><td>{{reason}}</td><td>{{message}}</td></tr>{{/events}}</table>
        """

    static let timeline = """
        <svg class="timeline" width="{{width}}" height="{{height}}">{{#rows}}<g><rect x="{{x}}" y="{{y}}" width="{{w}}" height="11" fill="#0052d9"><title>{{name}}: {{ms}} ms</title></rect><text x="{{labelX}}" y="{{labelY}}" font-size="10">{{name}} {{ms}} ms</text></g>{{/rows}}</svg>
        """

    static let instanceList = """
        {{<page}}{{$body}}
        <p><a class="button" id="run" href="/console/instances/new">Run an instance</a> <span class="muted">{{body.total}} instance(s)</span></p>
        <h2>Start-up: cached against cold</h2>
        {{#body.chart}}<svg id="start-chart" width="{{width}}" height="{{height}}">{{#bars}}<rect x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}" fill="{{color}}"><title>{{id}}: {{ms}} ms ({{kind}})</title></rect>{{/bars}}</svg>
        <p><span style="color:#0a8a3a">■</span> with an image cache (median {{cachedMedian}})
        &nbsp; <span style="color:#b06f00">■</span> images pulled (median {{coldMedian}})</p>{{/body.chart}}
        {{^body.chart}}<p class="muted">No instance has started yet.</p>{{/body.chart}}
        <table id="instances"><tr><th>Instance</th><th>Status</th><th>Image cache</th><th>Started after</th><th>Start-up phases</th></tr>
        {{#body.rows}}<tr data-id="{{id}}"><td><a href="/console/instances/{{id}}">{{name}}</a><br><code>{{id}}</code></td>
        <td><span class="status {{status}}">{{status}}</span></td>
        <td class="match">{{outcome}}{{#cacheID}}<br><code>{{cacheID}}</code>{{/cacheID}}</td>
        <td>{{started}}</td><td>{{#timeline}}{{> timeline}}{{/timeline}}{{^timeline}}<span class="muted">-</span>{{/timeline}}</td></tr>
        {{/body.rows}}</table>
        {{/body}}{{$script}}{{#body.live}}setTimeout(() => location.reload(), 1000){{/body.live}}{{/script}}{{/page}}
        """

    static let runPage = """
        {{<page}}{{$body}}
        {{#body.error}}<p class="error" id="run-error">{{body.error}}</p>{{/body.error}}
        <form method="post" action="/console/instances" class="card" id="run-form">
          <label for="name">Name</label><input id="name" name="name" value="{{body.name}}">
          <label for="image">Image</label><input id="image" name="image" value="{{body.image}}">
          <label for="command">Command <span class="hint">run with /bin/sh -c; empty: the image's own</span></label>
          <input id="command" name="command" value="{{body.command}}">
          <label for="cache">Image cache</label><select id="cache" name="cache">{{#body.caches}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/body.caches}}</select>
          <label for="match">Matching <span class="hint">with auto: a cache must hold every image (perfect), or the one holding the most will do and the rest are pulled (partial)</span></label>
          <select id="match" name="match"><option value="">the account's default (perfect)</option><option value="perfect">perfect</option><option value="partial">partial</option></select>
          <label><input type="checkbox" id="auto-create" name="autoCreate"> When no cache matches, build one of this image for the next instance</label>
          <label for="restart">Restart policy</label><select id="restart" name="restart"><option>Never</option><option>OnFailure</option><option>Always</option></select>
          <label for="vpc">VPC <span class="hint">empty: loopback only; instances of one VPC reach each other</span></label><input id="vpc" name="vpc" value="{{body.vpc}}" placeholder="vpc-1">
          <label for="subnet">Subnet</label><input id="subnet" name="subnet" value="{{body.subnet}}" placeholder="subnet-1">
          <label for="groups">Security groups <span class="hint">comma-separated; this service has {{body.knownGroups}}</span></label><input id="groups" name="groups" value="{{body.groups}}" placeholder="default">
          {{#body.eipPool}}<label><input type="checkbox" id="eip" name="eip"{{#body.eip}} checked{{/body.eip}}> An elastic IP from {{body.eipPool}} (needs a VPC)</label>
          <label for="bandwidth">EIP bandwidth out <span class="hint">Mbit/s; empty: no cap</span></label><input id="bandwidth" name="bandwidth" value="{{body.bandwidth}}">{{/body.eipPool}}
          <p><button id="submit">Run</button></p>
        </form>
        {{/body}}{{/page}}
        """

    static let instancePage = """
        {{<page}}{{$body}}
        <div class="card"><p><code>{{body.id}}</code> &nbsp; restart policy {{body.restartPolicy}}
        &nbsp; <form method="post" action="/console/instances/{{body.id}}/delete" class="inline"><button class="danger" id="delete">Delete</button></form></p></div>
        <div id="live">{{#body.live}}{{> instanceLive}}{{/body.live}}</div>
        {{/body}}{{$script}}
        const live = document.getElementById('live');
        async function refresh() {
          const r = await fetch('/console/instances/{{body.id}}/live', {cache: 'no-store'});
          if (r.ok) live.innerHTML = await r.text();
          if (!live.querySelector('[data-final]')) setTimeout(refresh, 700);
        }
        setTimeout(refresh, 700);
        {{/script}}{{/page}}
        """

    static let instanceLive = """
        <p{{#final}} data-final{{/final}}>Status: <span class="status {{status}}" id="status">{{status}}</span>
        &nbsp; Image cache: <b id="match">{{outcome}}</b> {{#cacheID}}<code>{{cacheID}}</code>{{/cacheID}}
        {{#disk}} &nbsp; disk <code>{{id}}</code> ({{size}} GiB, {{type}}){{/disk}}
        {{#address}} &nbsp; address <code id="private-ip">{{address}}</code>{{/address}}
        {{#eip}} &nbsp; EIP <code id="eip">{{eip}}</code>{{/eip}}</p>
        <h2>Start-up</h2>{{#timeline}}{{> timeline}}{{/timeline}}{{^timeline}}<span class="muted">-</span>{{/timeline}}
        <h2>Containers</h2><table id="containers"><tr><th>Name</th><th>Image</th><th>State</th><th>Ready</th><th>Exit code</th><th>Restarts</th><th>Probes</th></tr>{{#containers}}<tr><td>{{name}}</td><td>{{image}}</td><td>{{state}}{{#reason}} ({{reason}}){{/reason}}</td><td class="ready">{{ready}}</td><td>{{exitCode}}</td><td class="restarts">{{restarts}}</td><td class="probes">{{probes}}</td></tr>{{/containers}}</table>
        {{#volumes.0}}<h2>Volumes</h2><table id="volumes"><tr><th>Name</th><th>Kind</th><th>Mounted at</th></tr>{{#volumes}}<tr><td>{{name}}</td><td>{{kind}}</td><td>{{mounts}}</td></tr>{{/volumes}}</table>{{/volumes.0}}
        <h2>Events</h2><table id="events"><tr><th>Time</th><th>Type</th><th>Reason</th><th>Message</th></tr>{{#events}}
        <tr><td>{{time}}</td><td class="{{type}}">{{type}}</td><td>{{reason}}</td><td>{{message}}</td></tr>{{/events}}</table>
        <h2>Logs</h2><pre id="logs" class="card">{{logs}}</pre>
        """

    static let bill = """
        {{<page}}{{$body}}
        <form method="get" action="/console/bill" class="card">{{#body.error}}<p class="error" id="bill-error">{{body.error}}</p>{{/body.error}}
          From <input name="from" id="from" value="{{body.from}}" placeholder="2026-11-01" style="min-width:10em">
          to <input name="to" id="to" value="{{body.to}}" placeholder="now" style="min-width:10em">
          <button>Show</button> <span class="muted">{{body.period}}</span></form>
        <p>Total: <b id="total">{{body.total}} {{body.currency}}</b></p>
        <h2>Per image cache</h2><table id="cache-totals">{{#body.totals}}<tr><td><code>{{id}}</code></td><td>{{#bar}}{{> bar}}{{/bar}}</td><td class="amount">{{amount}}</td></tr>{{/body.totals}}</table>
        <h2>Line items</h2>
        <table id="items"><tr><th>Resource</th><th>Type</th><th>Image cache</th><th>Instance</th><th>Quantity</th><th>Hours</th><th>Unit</th><th>Unit price</th><th>Amount ({{body.currency}})</th></tr>
        {{#body.items}}<tr><td><code>{{resource}}</code></td><td>{{kind}}</td><td>{{cache}}</td><td>{{instance}}</td>
        <td>{{quantity}}</td><td>{{hours}}</td><td>{{unit}}</td><td>{{unitPrice}}</td><td class="amount">{{amount}}</td></tr>
        {{/body.items}}</table>
        {{/body}}{{/page}}
        """

    static let style = """
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
}

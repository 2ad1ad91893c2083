import Foundation
import Hummingbird
import IMCBilling
import IMCService

/// The bill: what the account's builds, snapshots and image cache disks cost, as line items,
/// totals per cache and a picture of the totals.
extension Console {
    func billPage(_ s: Session, query: Parameters) throws -> String {
        guard let billing else {
            return HTML.page(title: "Bill", account: s.account, active: "bill", body: "<p>Billing is not served here.</p>")
        }
        var error: String?
        func date(_ key: String) -> Date? {
            guard let text = query[Substring(key)].map(String.init), !text.isEmpty else { return nil }
            if let d = try? Date(text, strategy: .iso8601) { return d }
            if let d = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return d }
            error = "\(key) \"\(text)\" is not a date like 2026-11-01"
            return nil
        }
        let from = date("from")
        let to = date("to")
        var bill: Bill?
        do { bill = try billing.bill(account: s.account, from: from, to: to) } catch let e as ServiceError {
            if e.code == .invalidValue { error = e.message }
        }
        let items = (bill?.items ?? []).map { i in
            """
            <tr><td><code>\(HTML.escape(i.resourceID))</code></td><td>\(i.kind.rawValue)</td><td>\(i.cacheID ?? "-")</td><td>\(i.instanceID ?? "-")</td>
            <td>\(i.quantity)</td><td>\(Billing.text(i.hours))</td><td>\(HTML.escape(i.unit))</td><td>\(i.unitPrice)</td><td class="amount">\(Billing.text(i.amount))</td></tr>
            """
        }
        let totals = (bill?.cacheTotals ?? [:]).sorted { $0.key < $1.key }
        let top = totals.map(\.value).max() ?? 0
        let bars = totals.map { id, amount -> String in
            let fraction = top > 0 ? NSDecimalNumber(decimal: amount / top).doubleValue : 0
            return "<tr><td><code>\(id)</code></td><td>\(HTML.bar(fraction))</td><td class=\"amount\">\(Billing.text(amount))</td></tr>"
        }
        let currency = HTML.escape(bill?.currency ?? "")
        return HTML.page(
            title: "Bill", account: s.account, active: "bill",
            body: """
                <form method="get" action="/console/bill" class="card">\(error.map { "<p class=\"error\" id=\"bill-error\">\(HTML.escape($0))</p>" } ?? "")
                  From <input name="from" id="from" value="\(HTML.escape(query[Substring("from")].map(String.init) ?? ""))" placeholder="2026-11-01" style="min-width:10em">
                  to <input name="to" id="to" value="\(HTML.escape(query[Substring("to")].map(String.init) ?? ""))" placeholder="now" style="min-width:10em">
                  <button>Show</button> <span class="muted">\(bill.map { "\(HTML.time($0.from)) to \(HTML.time($0.to))" } ?? "")</span></form>
                <p>Total: <b id="total">\(bill.map { Billing.text($0.total) } ?? "-") \(currency)</b></p>
                <h2>Per image cache</h2><table id="cache-totals">\(bars.joined())</table>
                <h2>Line items</h2>
                <table id="items"><tr><th>Resource</th><th>Type</th><th>Image cache</th><th>Instance</th><th>Quantity</th><th>Hours</th><th>Unit</th><th>Unit price</th><th>Amount (\(currency))</th></tr>
                \(items.joined(separator: "\n"))</table>
                """)
    }
}

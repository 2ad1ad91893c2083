import Foundation
import Hummingbird
import IMCBilling
import IMCServiceSupport

/// The bill: what the account's builds, snapshots and image cache disks cost, as line items,
/// totals per cache and a picture of the totals.
extension Console {
    struct BillBody {
        struct Item {
            var resource: String
            var kind: String
            var cache: String
            var instance: String
            var quantity: Int
            var hours: String
            var unit: String
            var unitPrice: String
            var amount: String
        }
        struct Total {
            var id: String
            var bar: Bar
            var amount: String
        }
        var error: String?
        var from: String
        var to: String
        var period: String
        var total: String
        var currency: String
        var totals: [Total]
        var items: [Item]
    }

    func billPage(_ s: Session, query: Parameters) async throws -> Response {
        guard let billing else {
            return render("message", title: "Bill", session: s, active: "bill", body: Message(text: "Billing is not served here."))
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
        do { bill = try await billing.bill(account: s.account, from: from, to: to) } catch let e as ServiceError
            where e.code == .invalidValue
        {
            error = e.message
        }
        let totals = (bill?.cacheTotals ?? [:]).sorted { $0.key < $1.key }
        let top = totals.map(\.value).max() ?? 0
        let body = BillBody(
            error: error, from: query[Substring("from")].map(String.init) ?? "", to: query[Substring("to")].map(String.init) ?? "",
            period: bill.map { "\(Self.time($0.from)) to \(Self.time($0.to))" } ?? "", total: bill.map { Billing.text($0.total) } ?? "-",
            currency: bill?.currency ?? "",
            totals: totals.map { id, amount in
                BillBody.Total(
                    id: id, bar: Bar(top > 0 ? NSDecimalNumber(decimal: amount / top).doubleValue : 0), amount: Billing.text(amount))
            },
            items: (bill?.items ?? []).map { i in
                .init(
                    resource: i.resourceID, kind: i.kind.rawValue, cache: i.cacheID ?? "-", instance: i.instanceID ?? "-",
                    quantity: i.quantity,
                    hours: Billing.text(i.hours), unit: i.unit, unitPrice: "\(i.unitPrice)", amount: Billing.text(i.amount))
            })
        return render("bill", title: "Bill", session: s, active: "bill", body: body)
    }
}

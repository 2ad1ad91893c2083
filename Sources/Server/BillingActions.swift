import Foundation
import IMCAPI
import IMCBilling
import IMCService

/// The bill (API.md section 8) as an action in the style of the others:
/// `DescribeImageCacheBill` with `StartTime`, `EndTime` (ISO 8601; default: the last 30 days),
/// `ImageCacheId`, `EksCiId`; it answers line items, totals per cache and the total. Amounts are
/// decimal strings ("0.0123"), so that no client reads them as floating point.
struct BillingActions: Sendable {
    let service: BillingService
    static let names: Set<String> = ["DescribeImageCacheBill"]

    func handle(_ action: String, _ p: inout Parameters, account: String) throws -> [String: Any] {
        func time(_ name: String) throws -> Date? {
            guard let text = try p.string(name) else { return nil }
            guard let date = try? Date(text, strategy: .iso8601) else {
                throw APIError.invalidParameterValue("\(name) \"\(text.prefix(40))\" is not an ISO-8601 time like 2026-11-01T00:00:00Z")
            }
            return date
        }
        let from = try time("StartTime")
        let to = try time("EndTime")
        let cacheID = try p.string("ImageCacheId")
        let instanceID = try p.string("EksCiId")
        try p.finish()
        let bill = try service.bill(account: account, from: from, to: to, cacheID: cacheID, instanceID: instanceID)
        return Self.render(bill)
    }

    static func render(_ bill: Bill) -> [String: Any] {
        func t(_ d: Date) -> String { d.formatted(.iso8601) }
        return [
            "Currency": bill.currency, "StartTime": t(bill.from), "EndTime": t(bill.to),
            "LineItems": bill.items.map { i in
                [
                    "ResourceType": i.kind.rawValue, "ResourceId": i.resourceID, "ImageCacheId": i.cacheID ?? NSNull(),
                    "EksCiId": i.instanceID ?? NSNull(), "DiskType": i.diskType ?? NSNull(), "StartTime": t(i.start), "EndTime": t(i.end),
                    "Quantity": i.quantity, "Hours": Billing.text(i.hours), "Unit": i.unit, "UnitPrice": "\(i.unitPrice)",
                    "Amount": Billing.text(i.amount),
                ] as [String: Any]
            },
            "ImageCacheTotals": bill.cacheTotals.sorted { $0.key < $1.key }.map {
                ["ImageCacheId": $0.key, "Amount": Billing.text($0.value)]
            },
            "TotalAmount": Billing.text(bill.total),
        ]
    }
}

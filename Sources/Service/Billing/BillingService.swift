import Foundation
import IMCBilling
import IMCModel
import IMCServiceSupport
import IMCStore

/// The bill of an account for a period, from the metered usage and the configured prices.
public struct BillingService: Sendable {
    let usage: any UsageRepository
    public let prices: [PriceList]
    let clock: any ServiceClock

    public init(usage: any UsageRepository, prices: [PriceList] = [.defaults], clock: any ServiceClock = SystemClock()) {
        self.usage = usage
        self.prices = prices.isEmpty ? [.defaults] : prices
        self.clock = clock
    }

    /// The period defaults to the 30 days before now; `cacheID` and `instanceID` narrow it to
    /// one cache's or one instance's items.
    public func bill(account: String, from: Date? = nil, to: Date? = nil, cacheID: String? = nil, instanceID: String? = nil) async throws
        -> Bill
    {
        let end = to ?? clock.now()
        let start = from ?? end.addingTimeInterval(-30 * 86400)
        guard start < end else {
            throw ServiceError.invalidValue(
                "StartTime",
                "StartTime \(start.rfc3339) must be before EndTime \(end.rfc3339)")
        }
        var rows = try await usage.usage(account: account, from: start, to: end)
        if let cacheID { rows = rows.filter { $0.cacheID == cacheID } }
        if let instanceID { rows = rows.filter { $0.instanceID == instanceID } }
        return Billing.bill(usage: rows, prices: prices, from: start, to: end, now: clock.now())
    }
}

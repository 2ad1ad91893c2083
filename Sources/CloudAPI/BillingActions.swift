import Foundation
import IMCAPI
import IMCBilling
import IMCBillingService

/// The bill (API.md section 8) as an action in the style of the others: `DescribeImageCacheBill`
/// with `StartTime`, `EndTime` (ISO 8601; default: the last 30 days), `ImageCacheId`, `EksCiId`.
struct BillingActions: Sendable {
    let service: BillingService

    func bill(_ r: DescribeImageCacheBillRequest, account: String) async throws -> DescribeImageCacheBillResponse {
        func time(_ name: String, _ text: String?) throws -> Date? {
            guard let text else { return nil }
            guard let date = try? Date(text, strategy: .iso8601) else {
                throw APIError.invalidParameterValue("\(name) \"\(text.prefix(40))\" is not an ISO-8601 time like 2026-11-01T00:00:00Z")
            }
            return date
        }
        let bill = try await service.bill(
            account: account, from: try time("StartTime", r.StartTime), to: try time("EndTime", r.EndTime), cacheID: r.ImageCacheId,
            instanceID: r.EksCiId)
        return Views.bill(bill)
    }
}

import ArgumentParser
import Foundation
import IMCAPI
import IMCClient

/// `imc bill`: what the account's image caches cost (DescribeImageCacheBill).
struct BillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bill", abstract: "The bill: builders, build disks, snapshots and image cache disks, with totals per cache.")
    @OptionGroup var api: APIOptions
    @Option(help: "Start (ISO 8601, e.g. 2026-11-01T00:00:00Z; default 30 days before --to).") var from: String?
    @Option(help: "End (ISO 8601; default now).") var to: String?
    @Option(help: "Only this image cache (imc-...).") var cache: String?
    @Option(help: "Only this instance (eksci-...).") var instance: String?

    func run() async throws {
        try await api.with { client in
            let bill = try await client.send(
                DescribeImageCacheBillRequest(StartTime: from, EndTime: to, ImageCacheId: cache, EksCiId: instance))
            if api.json { return print(APIOptions.render(bill)) }
            print("Bill from \(bill.StartTime) to \(bill.EndTime), in \(bill.Currency)\n")
            print(
                table(
                    ["RESOURCE", "TYPE", "IMAGE CACHE", "INSTANCE", "QUANTITY", "HOURS", "UNIT", "UNIT PRICE", "AMOUNT"],
                    bill.LineItems.map { i in
                        [
                            i.ResourceId, i.ResourceType, i.ImageCacheId ?? "-", i.EksCiId ?? "-", "\(i.Quantity)", i.Hours, i.Unit,
                            i.UnitPrice,
                            i.Amount,
                        ]
                    }))
            if !bill.ImageCacheTotals.isEmpty {
                print("\nPer image cache:")
                for t in bill.ImageCacheTotals { print("  \(t.ImageCacheId)   \(t.Amount) \(bill.Currency)") }
            }
            print("\nTotal: \(bill.TotalAmount) \(bill.Currency)")
        }
    }
}

import ArgumentParser
import Foundation
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
        var p: [String: Any] = [:]
        if let from { p["StartTime"] = from }
        if let to { p["EndTime"] = to }
        if let cache { p["ImageCacheId"] = cache }
        if let instance { p["EksCiId"] = instance }
        try await api.with { client in
            let bill = try await client.call("DescribeImageCacheBill", p)
            if api.json { return print(APIOptions.render(bill)) }
            let currency = bill["Currency"] as? String ?? ""
            let items = bill["LineItems"] as? [[String: Any]] ?? []
            print("Bill from \(bill["StartTime"] ?? "") to \(bill["EndTime"] ?? ""), in \(currency)\n")
            print(
                table(
                    ["RESOURCE", "TYPE", "IMAGE CACHE", "INSTANCE", "QUANTITY", "HOURS", "UNIT", "UNIT PRICE", "AMOUNT"],
                    items.map { i in
                        [
                            i["ResourceId"] as? String ?? "", i["ResourceType"] as? String ?? "", i["ImageCacheId"] as? String ?? "-",
                            i["EksCiId"] as? String ?? "-", "\(i["Quantity"] ?? "")", i["Hours"] as? String ?? "",
                            i["Unit"] as? String ?? "",
                            i["UnitPrice"] as? String ?? "", i["Amount"] as? String ?? "",
                        ]
                    }))
            let totals = bill["ImageCacheTotals"] as? [[String: Any]] ?? []
            if !totals.isEmpty {
                print("\nPer image cache:")
                for t in totals { print("  \(t["ImageCacheId"] ?? "")   \(t["Amount"] ?? "") \(currency)") }
            }
            print("\nTotal: \(bill["TotalAmount"] ?? "0") \(currency)")
        }
    }
}

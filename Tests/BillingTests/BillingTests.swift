import Foundation
import IMCBilling
import Testing

/// Bills computed by hand: every expected amount below is written out as the arithmetic it is.
struct BillingTests {
    let t0 = Date(timeIntervalSince1970: 1_790_000_000)
    func at(_ hours: Double) -> Date { t0.addingTimeInterval(hours * 3600) }
    func d(_ s: String) -> Decimal { Decimal(string: s)! }
    var prices: PriceList {
        PriceList(
            from: nil, currency: "CNY", builder: d("0.32"), buildDisk: d("0.0004"), snapshot: d("0.00017"),
            disk: ["CLOUD_PREMIUM": d("0.0004"), "CLOUD_SSD": d("0.0011")])
    }

    func usage(
        _ kind: UsageKind, _ id: String, cache: String? = "imc-aaaaaaaa", instance: String? = nil, qty: Int, type: String? = nil,
        _ start: Double, _ end: Double?
    )
        -> Usage
    {
        Usage(
            account: "a", kind: kind, resourceID: id, cacheID: cache, instanceID: instance, quantity: qty, diskType: type, start: at(start),
            end: end.map(at))
    }

    @Test func aBuildIsItsBuilderAndItsDiskForTheBuildsDuration() {
        let bill = Billing.bill(
            usage: [usage(.builder, "builder-1", qty: 1, 0, 0.5), usage(.buildDisk, "disk-b", qty: 20, 0, 0.5)], prices: [prices],
            from: at(0),
            to: at(24), now: at(30))
        // builder: 1 x 0.5 h x 0.32 = 0.16; disk: 20 GiB x 0.5 h x 0.0004 = 0.004
        #expect(bill.items.map(\.amount) == [d("0.16"), d("0.004")])
        #expect(bill.items.map(\.unit) == ["builder-hour (2 cores, 4 GiB)", "GiB-hour"])
        #expect(bill.total == d("0.164") && bill.cacheTotals == ["imc-aaaaaaaa": d("0.164")])
    }

    @Test func aSnapshotKeptAcrossTheEndOfThePeriodIsBilledUpToIt() {
        let snapshot = usage(.snapshot, "snap-1", qty: 20, 0.5, 48.5)
        let first = Billing.bill(usage: [snapshot], prices: [prices], from: at(0), to: at(24), now: at(100))
        // 20 GiB x 23.5 h x 0.00017 = 0.0799
        #expect(first.items.count == 1 && first.items[0].hours == d("23.5") && first.total == d("0.0799"))
        let second = Billing.bill(usage: [snapshot], prices: [prices], from: at(24), to: at(48), now: at(100))
        // 20 GiB x 24 h x 0.00017 = 0.0816
        #expect(second.total == d("0.0816"))
        // Still in use: billed up to now.
        let open = usage(.snapshot, "snap-2", qty: 30, 0, nil)
        let now = Billing.bill(usage: [open], prices: [prices], from: at(0), to: at(24), now: at(10))
        // 30 GiB x 10 h x 0.00017 = 0.051
        #expect(now.total == d("0.051"))
    }

    @Test func anInstancesDiskIsBilledByItsTypeAndARetainedDiskForItsRetention() {
        let bill = Billing.bill(
            usage: [
                usage(.instanceDisk, "disk-i", instance: "eksci-1", qty: 40, type: "CLOUD_SSD", 1, 3),
                usage(.retainedDisk, "disk-i", instance: "eksci-1", qty: 40, type: "CLOUD_SSD", 3, 3 + 10.0 / 60),
                usage(.instanceDisk, "disk-j", instance: "eksci-2", qty: 20, type: "CLOUD_PREMIUM", 1, 1.25),
            ], prices: [prices], from: at(0), to: at(24), now: at(30))
        // in use: 40 GiB x 2 h x 0.0011 = 0.088
        // retained: 40 GiB x (10/60) h x 0.0011 = 0.00733... -> 0.0073
        // the other, without retention: 20 GiB x 0.25 h x 0.0004 = 0.002
        #expect(bill.items.map(\.amount) == [d("0.088"), d("0.002"), d("0.0073")])
        #expect(bill.total == d("0.0973"))
    }

    @Test func aPriceChangeSplitsTheIntervalsItFallsIn() {
        var later = prices
        later.from = at(1)
        later.snapshot = d("0.0002")
        let bill = Billing.bill(
            usage: [usage(.snapshot, "snap-1", qty: 20, 0.5, 30)], prices: [later, prices], from: at(0), to: at(24), now: at(100))
        // 0.5 h at the old price: 20 x 0.5 x 0.00017 = 0.0017; 23 h at the new: 20 x 23 x 0.0002 = 0.092
        #expect(bill.items.map(\.amount) == [d("0.0017"), d("0.092")])
        #expect(bill.items.map(\.unitPrice) == [d("0.00017"), d("0.0002")])
        #expect(bill.total == d("0.0937"))
    }

    @Test func amountsAreDecimalTextWithFourPlaces() {
        #expect(Billing.text(d("0.16")) == "0.1600")
        #expect(Billing.text(d("0.00733333")) == "0.0073")
        #expect(Billing.text(d("0.00005")) == "0.0001", "half-up")
        #expect(Billing.text(0) == "0.0000")
        #expect(Billing.text(d("12")) == "12.0000")
    }
}

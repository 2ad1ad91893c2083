import IMCDocuments
import IMCInstance
import Testing

/// The EIP pool's addresses and an EIP's attributes, as the config and the requests give them.
struct ElasticIPTests {
    @Test func aPoolGivesItsHostAddressesInOrder() throws {
        let pool = try EIPPool.parse("198.51.100.16/28").get()
        #expect(pool.addresses.first == "198.51.100.17" && pool.addresses.last == "198.51.100.30" && pool.addresses.count == 14)
        #expect(try EIPPool.parse("203.0.113.7/32").get().addresses == ["203.0.113.7"])
        #expect(try EIPPool.parse("203.0.113.6/31").get().addresses == ["203.0.113.6", "203.0.113.7"])
    }

    @Test(arguments: [
        ("198.51.100.17/28", "host bits"), ("198.51.100.0/8", "from /16 to /32"), ("198.51.100.0", "prefix"),
        ("2001:db8::/64", "IPv4"), ("300.1.1.0/24", "IPv4"), ("1.2.3/24", "IPv4"),
    ])
    func aBadPoolIsRefusedSayingWhy(cidr: String, says: String) {
        guard case .failure(let e) = EIPPool.parse(cidr) else {
            Issue.record("\(cidr) was taken")
            return
        }
        #expect(e.description.contains(says), "\(e)")
    }

    @Test func attributesGiveABandwidthOrAreRefusedByKey() throws {
        #expect(try EIPRequest.bandwidth(attributes: ["InternetMaxBandwidthOut": 2]).get() == 2)
        #expect(try EIPRequest.bandwidth(attributes: [:]).get() == nil)
        #expect(try EIPRequest.bandwidth(attributes: ["DeletePolicy": true]).get() == nil)
        for (attributes, key, unsupported) in [
            (["InternetMaxBandwidthOut": 0] as JSONValue, "InternetMaxBandwidthOut", false),
            (["InternetMaxBandwidthOut": "fast"], "InternetMaxBandwidthOut", false),
            (["InternetChargeType": "TRAFFIC"], "InternetChargeType", true), (["DeletePolicy": false], "DeletePolicy", true),
        ] {
            guard case .failure(let p) = EIPRequest.bandwidth(attributes: attributes) else {
                Issue.record("\(attributes) was taken")
                continue
            }
            #expect(p.key == key && p.unsupported == unsupported, "\(attributes): \(p)")
        }
    }
}

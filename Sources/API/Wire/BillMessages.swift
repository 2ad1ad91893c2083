// The bill (API.md section 8), as an action in the style of the others. Amounts are decimal
// strings ("0.0123"), so that no client reads them as floating point.

public struct DescribeImageCacheBillRequest: CloudAPIRequest, Equatable {
    public static let action = CloudAction.describeImageCacheBill
    public typealias Response = DescribeImageCacheBillResponse

    public var StartTime: String?
    public var EndTime: String?
    public var ImageCacheId: String?
    public var EksCiId: String?

    public init(StartTime: String? = nil, EndTime: String? = nil, ImageCacheId: String? = nil, EksCiId: String? = nil) {
        self.StartTime = StartTime
        self.EndTime = EndTime
        self.ImageCacheId = ImageCacheId
        self.EksCiId = EksCiId
    }
}

public struct DescribeImageCacheBillResponse: Codable, Sendable, Equatable {
    public var Currency: String
    public var StartTime: String
    public var EndTime: String
    public var LineItems: [BillLineItem]
    public var ImageCacheTotals: [ImageCacheTotal]
    public var TotalAmount: String

    public init(
        Currency: String, StartTime: String, EndTime: String, LineItems: [BillLineItem], ImageCacheTotals: [ImageCacheTotal],
        TotalAmount: String
    ) {
        self.Currency = Currency
        self.StartTime = StartTime
        self.EndTime = EndTime
        self.LineItems = LineItems
        self.ImageCacheTotals = ImageCacheTotals
        self.TotalAmount = TotalAmount
    }
}

public struct BillLineItem: Codable, Sendable, Equatable {
    public var ResourceType: String
    public var ResourceId: String
    @Nullable public var ImageCacheId: String?
    @Nullable public var EksCiId: String?
    @Nullable public var DiskType: String?
    public var StartTime: String
    public var EndTime: String
    public var Quantity: Int
    public var Hours: String
    public var Unit: String
    public var UnitPrice: String
    public var Amount: String

    public init(
        ResourceType: String, ResourceId: String, ImageCacheId: String?, EksCiId: String?, DiskType: String?, StartTime: String,
        EndTime: String, Quantity: Int, Hours: String, Unit: String, UnitPrice: String, Amount: String
    ) {
        self.ResourceType = ResourceType
        self.ResourceId = ResourceId
        self.ImageCacheId = ImageCacheId
        self.EksCiId = EksCiId
        self.DiskType = DiskType
        self.StartTime = StartTime
        self.EndTime = EndTime
        self.Quantity = Quantity
        self.Hours = Hours
        self.Unit = Unit
        self.UnitPrice = UnitPrice
        self.Amount = Amount
    }
}

public struct ImageCacheTotal: Codable, Sendable, Equatable {
    public var ImageCacheId: String
    public var Amount: String

    public init(ImageCacheId: String, Amount: String) {
        self.ImageCacheId = ImageCacheId
        self.Amount = Amount
    }
}

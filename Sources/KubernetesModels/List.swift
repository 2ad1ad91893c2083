/// A list of objects (`PodList`, `ImageCacheList`, ...): its kind and version, the revision it
/// was read at, and the items.
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var metadata: ListMeta
    public var items: [Item]

    public init(kind: String, apiVersion: String, resourceVersion: String, items: [Item]) {
        self.kind = kind
        self.apiVersion = apiVersion
        metadata = ListMeta(resourceVersion: resourceVersion)
        self.items = items
    }

    /// Another page follows, from `token`; `remaining` items after this page.
    public mutating func continues(from token: String?, remaining: Int) {
        guard let token else { return }
        metadata.continue = token
        metadata.remainingItemCount = remaining
    }
}

/// `meta.k8s.io/v1` Table: what `kubectl get` prints, as the server lays it out (column
/// definitions, then a row of cells per object, each with the object).
public struct Table<Object: Codable & Sendable>: Codable, Sendable {
    public var apiVersion = "meta.k8s.io/v1"
    public var kind = "Table"
    public var metadata: ListMeta
    public var columnDefinitions: [TableColumnDefinition]
    public var rows: [TableRow<Object>]

    public init(columns: [TableColumnDefinition], rows: [TableRow<Object>], resourceVersion: String) {
        columnDefinitions = columns
        self.rows = rows
        metadata = ListMeta(resourceVersion: resourceVersion)
    }
}

public struct TableColumnDefinition: Codable, Sendable, Equatable {
    public var name: String
    /// `string` or `integer`.
    public var type: String
    /// `name` for the column that names the object, else empty.
    public var format: String
    public var description: String
    /// 0: always shown; 1: with `-o wide`.
    public var priority: Int

    public init(_ name: String, _ description: String, type: String = "string", format: String = "", priority: Int = 0) {
        self.name = name
        self.type = type
        self.format = format
        self.description = description
        self.priority = priority
    }
}

public struct TableRow<Object: Codable & Sendable>: Codable, Sendable {
    public var cells: [TableCell]
    public var object: Object

    public init(cells: [TableCell], object: Object) {
        self.cells = cells
        self.object = object
    }
}

/// A cell: text or a whole number, written as JSON's string or number.
public enum TableCell: Codable, Sendable, Equatable, ExpressibleByStringLiteral {
    case text(String)
    case integer(Int64)

    public init(stringLiteral text: String) { self = .text(text) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) { self = .integer(n) } else { self = .text(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .text(let s): try c.encode(s)
        case .integer(let n): try c.encode(n)
        }
    }
}

/// `includeObject` of a table: what each row carries of its object.
public enum IncludeObject: String, Choice {
    /// Its metadata only, as a `PartialObjectMetadata` (the API server's default).
    case Metadata
    case Object
    case None
}

/// An object's kind, version and metadata only: a table row's object unless the whole one is
/// asked for.
public struct PartialObjectMetadata: Codable, Sendable, Equatable {
    public var apiVersion = "meta.k8s.io/v1"
    public var kind = "PartialObjectMetadata"
    public var metadata: ObjectMeta

    public init(metadata: ObjectMeta) { self.metadata = metadata }
}

/// What a table row carries of its object (`includeObject`).
public enum RowObject<Full: Codable & Sendable>: Codable, Sendable {
    case object(Full)
    case metadata(PartialObjectMetadata)
    case none

    public init(from decoder: any Decoder) throws { self = .object(try Full(from: decoder)) }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let full): try full.encode(to: encoder)
        case .metadata(let partial): try partial.encode(to: encoder)
        case .none:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        }
    }
}

/// An object with `metadata` (what a table row's partial object is made of).
public protocol HasObjectMeta {
    var metadata: ObjectMeta { get }
}

extension Pod: HasObjectMeta {}
extension Event: HasObjectMeta {}
extension Namespace: HasObjectMeta {}
extension Secret: HasObjectMeta {}
extension ImageCacheObject: HasObjectMeta {}

import Foundation

/// A value bound to a statement: what both dialects store (times as seconds since 1970, in a
/// real column; documents as bytes).
public enum SQLValue: Sendable, Equatable {
    case null
    case text(String)
    case int(Int64)
    case real(Double)
    case bytes(Data)
}

/// What a statement can bind.
public protocol SQLBindable: Sendable {
    var sqlValue: SQLValue { get }
}

extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .int(self) } }
extension UInt32: SQLBindable { public var sqlValue: SQLValue { .int(Int64(self)) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension Data: SQLBindable { public var sqlValue: SQLValue { .bytes(self) } }
extension Date: SQLBindable { public var sqlValue: SQLValue { .real(timeIntervalSince1970) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// A statement written once for both dialects, its values bound by interpolation:
/// `"SELECT data FROM caches WHERE id = \(id) AND status IN \(list: statuses)"`. An interpolated
/// value is always bound, never spliced into the text; `\(raw:)` splices text (table and column
/// names of imc's own, never a tenant's input) and `\(sql)` another statement's text and values.
public struct SQL: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    enum Piece: Sendable {
        case text(String)
        case value(SQLValue)
        /// `(v1, v2, ...)`; `(NULL)` when empty, so that `x IN (NULL)` holds for nothing.
        case list([SQLValue])
    }
    var pieces: [Piece]

    public init(stringLiteral value: String) { pieces = [.text(value)] }
    public init(stringInterpolation: StringInterpolation) { pieces = stringInterpolation.pieces }

    public struct StringInterpolation: StringInterpolationProtocol {
        var pieces: [Piece] = []
        public init(literalCapacity: Int, interpolationCount: Int) {}
        public mutating func appendLiteral(_ literal: String) { pieces.append(.text(literal)) }
        public mutating func appendInterpolation(_ value: some SQLBindable) { pieces.append(.value(value.sqlValue)) }
        /// nil binds NULL.
        public mutating func appendInterpolation<T: SQLBindable>(_ value: T?) { pieces.append(.value(value.sqlValue)) }
        public mutating func appendInterpolation(list values: [some SQLBindable]) { pieces.append(.list(values.map(\.sqlValue))) }
        public mutating func appendInterpolation(raw text: String) { pieces.append(.text(text)) }
        public mutating func appendInterpolation(_ sql: SQL) { pieces += sql.pieces }
    }

    /// The statements joined by `separator`.
    public static func joined(_ parts: [SQL], separator: String) -> SQL {
        var out = SQL(stringLiteral: "")
        for (i, part) in parts.enumerated() {
            if i > 0 { out.pieces.append(.text(separator)) }
            out.pieces += part.pieces
        }
        return out
    }

    public static func + (a: SQL, b: SQL) -> SQL {
        var out = a
        out.pieces += b.pieces
        return out
    }

    /// The text with the dialect's placeholders (`$1`... or `?`) and the values in their order.
    public func rendered(for dialect: SQLDialect) -> (text: String, values: [SQLValue]) {
        var text = ""
        var values: [SQLValue] = []
        func placeholder(_ value: SQLValue) -> String {
            values.append(value)
            return dialect == .postgresql ? "$\(values.count)" : "?"
        }
        for piece in pieces {
            switch piece {
            case .text(let t): text += t
            case .value(let v): text += placeholder(v)
            case .list(let vs): text += vs.isEmpty ? "(NULL)" : "(" + vs.map(placeholder).joined(separator: ", ") + ")"
            }
        }
        return (text, values)
    }

    /// The text as PostgreSQL reads it, for messages (never with the values: they may be secret).
    public var description: String { rendered(for: .postgresql).text }
}

/// One row a statement returned, its columns by name.
public struct SQLRow: Sendable {
    let names: [String]
    let values: [SQLValue]

    public init(names: [String], values: [SQLValue]) {
        self.names = names
        self.values = values
    }

    public subscript(_ column: String) -> SQLValue? {
        guard let i = names.firstIndex(of: column) else { return nil }
        return values[i]
    }

    public func has(_ column: String) -> Bool { names.contains(column) }

    private func wrong(_ column: String, _ what: String) -> StoreError {
        StoreError(.database, "column \(column) is \(self[column].map { "\($0)" } ?? "missing"), not \(what)")
    }

    public func string(_ column: String) throws -> String {
        guard case .text(let s)? = self[column] else { throw wrong(column, "text") }
        return s
    }
    public func optionalString(_ column: String) throws -> String? {
        if case .null? = self[column] { return nil }
        return try string(column)
    }
    public func int64(_ column: String) throws -> Int64 {
        switch self[column] {
        case .int(let i)?: return i
        case .real(let d)? where d == d.rounded(): return Int64(d)
        default: throw wrong(column, "an integer")
        }
    }
    public func int(_ column: String) throws -> Int { Int(try int64(column)) }
    public func optionalInt64(_ column: String) throws -> Int64? {
        if case .null? = self[column] { return nil }
        return try int64(column)
    }
    public func double(_ column: String) throws -> Double {
        switch self[column] {
        case .real(let d)?: return d
        case .int(let i)?: return Double(i)
        default: throw wrong(column, "a number")
        }
    }
    public func optionalDouble(_ column: String) throws -> Double? {
        if case .null? = self[column] { return nil }
        return try double(column)
    }
    public func date(_ column: String) throws -> Date { Date(timeIntervalSince1970: try double(column)) }
    public func optionalDate(_ column: String) throws -> Date? { try optionalDouble(column).map(Date.init(timeIntervalSince1970:)) }
    public func data(_ column: String) throws -> Data {
        switch self[column] {
        case .bytes(let d)?: return d
        case .text(let s)?: return Data(s.utf8)
        default: throw wrong(column, "bytes")
        }
    }
}

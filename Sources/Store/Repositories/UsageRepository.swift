import Foundation
import IMCBilling

/// Metered intervals, kept for the bill.
///
/// Contract: `start` records an open interval; `stop` closes the open intervals of a resource
/// (of one kind, or any); nothing is ever deleted, so a bill can be computed for any past period.
public protocol UsageRepository: Sendable {
    func start(_ usage: Usage) async throws
    func stop(resourceID: String, kind: UsageKind?, at: Date) async throws
    /// Closes every open interval of these kinds (after a restart: the builds they metered ended).
    func stopAll(kinds: [UsageKind], at: Date) async throws
    /// The account's intervals overlapping [from, to).
    func usage(account: String, from: Date, to: Date) async throws -> [Usage]
}

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// The form in which the master hands the configuration to its workers: JSON.
extension ServerConfiguration {
    public func encoded() -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(self))
        } catch {
            // Only non-finite numbers fail to encode, and validate() refuses those.
            preconditionFailure("Internal inconsistency: the configuration does not encode: \(error)")
        }
    }

    public init(encoded bytes: [UInt8]) throws {
        self = try JSONDecoder().decode(ServerConfiguration.self, from: Data(bytes))
    }
}

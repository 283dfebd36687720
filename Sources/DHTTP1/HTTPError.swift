/// A request the server refuses, with the status it answers and a reason for the error log.
/// Every parse error closes the connection afterwards: once framing is in doubt, nothing
/// after it on the connection can be trusted.
public struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let reason: String

    public init(_ status: Int, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status): \(reason)" }

    static func bad(_ reason: String) -> HTTPError { HTTPError(400, reason) }
}

/// Failures of the Python bridge and of the transport under it.
public struct WSGIError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The interpreter could not start, or runs another version than it was built for.
        case interpreter
        /// The application could not be imported or is not callable (the traceback is printed).
        case appLoad
        /// The client stopped sending or reading for longer than the timeout.
        case timeout
        /// The client closed the connection or reset it.
        case clientGone
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

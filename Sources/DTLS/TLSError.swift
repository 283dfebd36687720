/// A TLS context that cannot be made: a certificate or key that cannot be read, or that do
/// not match; the message names the file.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

public import DPosix

/// The one-byte messages on the SEQPACKET channel between the master and a worker.
public enum ControlMessage: UInt8, Sendable {
    /// master → worker: an accepted connection is attached.
    case connection = 0x43  // "C"
    /// master → worker: stop taking connections, finish in-flight requests, exit.
    case drain = 0x44  // "D"
    /// worker → master: the application is loaded; the worker takes connections.
    case ready = 0x52  // "R"

    /// Sends this message (with `fd` attached, for `.connection`) without blocking.
    public func send(on channel: CInt, fd: CInt? = nil) -> DescriptorChannel.SendResult {
        DescriptorChannel.send(channel, tag: rawValue, fd: fd)
    }
}

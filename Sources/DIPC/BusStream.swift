public import DPosix

/// One end of the channel bus between the master and a worker: a non-blocking stream socket
/// carrying `ChannelMessage` frames both ways. Reads cut whole frames; writes go out as far as
/// the socket takes them and the rest waits here (the owner watches for writability while
/// `unsent` is not zero). Never blocks.
public final class BusStream {
    public let fd: OwnedFD
    var reader = ChannelFrameReader()
    var output: [UInt8] = []
    var outputStart = 0
    /// Read in chunks of this size.
    static let readChunk = 64 * 1024

    public init(fd: consuming OwnedFD) {
        self.fd = fd
    }

    public enum ReadOutcome: Equatable, Sendable {
        /// Everything available was read (the frames are waiting in `nextFrame()`).
        case open
        /// The peer closed its end (or the stream failed): nothing more will arrive.
        case closed
    }

    /// Reads what the socket holds (at most `limit` bytes this time, so that a flood from one
    /// peer cannot hold its reader's loop).
    public func read(limit: Int = 1 << 20) -> ReadOutcome {
        var total = 0
        var chunk = [UInt8](repeating: 0, count: Self.readChunk)
        while total < limit {
            let result = chunk.withUnsafeMutableBytes { (try? Posix.read(fd.raw, $0)) ?? .done(0) }
            switch result {
            case .wouldBlock:
                return .open
            case .done(0):
                return .closed
            case .done(let n):
                total += n
                chunk.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                if n < Self.readChunk { return .open }
            }
        }
        return .open
    }

    /// The next whole frame read; nil until more arrives. Throws on a corrupt stream.
    public func nextFrame() throws(ChannelFrameReader.ReadError) -> ArraySlice<UInt8>? {
        try reader.next()
    }

    /// Bytes queued and not written yet.
    public var unsent: Int { output.count - outputStart }

    /// Queues a frame (or several) and writes what the socket takes. False when the peer is gone.
    @discardableResult
    public func send<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        output.append(contentsOf: bytes)
        return flush()
    }

    /// Writes queued bytes until the socket is full. False when the peer is gone.
    @discardableResult
    public func flush() -> Bool {
        while outputStart < output.count {
            let result = output.withUnsafeBytes { raw -> Posix.IOResult? in
                try? Posix.send(fd.raw, UnsafeRawBufferPointer(rebasing: raw[outputStart...]))
            }
            switch result {
            case .done(let n)?:
                outputStart += n
            case .wouldBlock?:
                compact()
                return true
            case nil:
                output.removeAll()
                outputStart = 0
                return false
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
        outputStart = 0
        return true
    }

    /// Drops the written prefix once it is most of the buffer.
    func compact() {
        if outputStart > 1 << 16 && outputStart * 2 > output.count {
            output.removeFirst(outputStart)
            outputStart = 0
        }
    }
}

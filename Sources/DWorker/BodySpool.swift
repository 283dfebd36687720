internal import DPosix

/// A request body too large to keep in memory, decoded into an unnamed temporary file while it
/// arrives (on the event loop, before the application runs), then read back by `wsgi.input`.
/// The file disappears when the spool is released.
final class BodySpool {
    /// Spools alive in this worker: each holds a descriptor, counted against the worker's limit.
    nonisolated(unsafe) static var open = 0

    let file: OwnedFD
    private(set) var size = 0
    private(set) var readOffset = 0

    init(directory: String) throws(SystemError) {
        file = try Posix.openTemporaryFile(in: directory)
        Self.open += 1
    }

    deinit { Self.open -= 1 }

    func append(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        guard !bytes.isEmpty else { return }
        try Posix.writeFile(file.raw, bytes)
        size += bytes.count
    }

    /// Reads the next body bytes into `buffer`; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        let want = min(buffer.count, size - readOffset)
        guard want > 0 else { return 0 }
        let n = try Posix.pread(file.raw, UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: readOffset)
        readOffset += n
        return n
    }
}

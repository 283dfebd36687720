internal import DHTTP1
internal import DPosix
internal import DWSGI

/// --proxy-protocol: the PROXY header (v1 or v2) in front of everything else on the connection,
/// whose source becomes the client's address. Only the header's own bytes are taken from the
/// socket, so what follows (a request, a TLS handshake) is read as it would be without one.
extension Connection {
    /// The largest header accepted: v2's addresses and the TLVs load balancers add.
    static let proxyHeaderLimit = 4096

    /// Reads what has arrived of the header. True once it is complete (the connection goes on
    /// with what follows); false while it waits for more, or after closing a connection that
    /// does not start with a valid header.
    func readProxyHeader() -> Bool {
        if input.capacity == 0 { input.reserve(InputBuffer.initialCapacity) }
        let room = min(Self.proxyHeaderLimit - input.count, input.capacity - input.count)
        let peeked: Posix.IOResult
        do {
            peeked = try Posix.peek(fd.raw, UnsafeMutableRawBufferPointer(rebasing: input.freeSpace[0..<room]))
        } catch {
            close()
            return false
        }
        switch peeked {
        case .wouldBlock:
            finishBatch()
            return false
        case .done(0):
            close()
            return false
        case .done(let n):
            // The header is judged on what was taken before plus what is waiting now.
            input.count += n
            let outcome = ProxyProtocol.parse(input.bytes(0..<input.count))
            input.count -= n
            switch outcome {
            case .incomplete:
                guard input.count + n < Self.proxyHeaderLimit else {
                    worker.log(
                        "client \(clientAddress): a PROXY protocol header longer than \(Self.proxyHeaderLimit) bytes; closed"
                    )
                    close()
                    return false
                }
                // Every byte so far belongs to the header: take them.
                guard take(n) else { return false }
                finishBatch()
                return false
            case .invalid(let reason):
                worker.log("client \(clientAddress): \(reason); closed (--proxy-protocol)")
                close()
                return false
            case .complete(let length, let source):
                guard take(length - input.count) else { return false }
                input.count = 0
                awaitingProxyHeader = false
                if let source {
                    var client = info
                    client.remoteAddr = source.address
                    client.remotePort = String(source.port)
                    proxied = client
                }
                return true
            }
        }
    }

    /// Reads `count` bytes that peek showed are there, into the input after what it holds.
    func take(_ count: Int) -> Bool {
        var left = count
        while left > 0 {
            let result = try? Posix.read(fd.raw, UnsafeMutableRawBufferPointer(rebasing: input.freeSpace[0..<left]))
            guard case .done(let n)? = result, n > 0 else {
                close()
                return false
            }
            input.count += n
            left -= n
        }
        return true
    }
}

internal import DEventLoop
internal import DHTTP1
internal import DPosix
internal import DTLS
internal import DWSGI

/// HTTPS: the connection's bytes through its TLS session. The handshake runs inside the first
/// reads, on the loop, under the request head's deadline; a plain-HTTP request on the TLS port
/// gets a plain 400 (as nginx answers it) instead of a failed handshake; files are copied
/// through the session in bounded chunks unless the kernel encrypts (kernel TLS sendfile).
extension Connection {
    /// The largest chunk of a file copied into the output at once when the kernel cannot
    /// encrypt a sendfile: four TLS records.
    static let fileChunk = 64 * 1024

    /// What arrived, decrypted into the input; everything OpenSSL holds is taken, since the
    /// socket will not signal those bytes again.
    func readSome(_ tls: TLSSession) -> ReadOutcome {
        if tls.notStarted, let outcome = refusePlainHTTP() { return outcome }
        var got = false
        while true {
            if input.capacity - input.count < 1024 {
                input.reserve(input.count + (input.capacity == 0 ? InputBuffer.initialCapacity : 16 * 1024))
            }
            switch tls.read(into: input.freeSpace) {
            case .done(let n):
                input.count += n
                bytesIn.add(n)
                got = true
                if !tls.hasPending && input.count < input.capacity { return .data }
            case .wantRead:
                return got ? .data : .wouldBlock
            case .wantWrite:
                // Only a peer that stops reading while it makes the server write (a handshake
                // flight, key updates) gets here: that peer is closed rather than waited for.
                return got ? .data : .error
            case .closed:
                return got ? .data : .eof
            case .failed:
                // A failed handshake (a scanner, a client that does not trust the certificate)
                // or a corrupt record: the connection is over, and nobody is told more.
                return .error
            }
        }
    }

    /// Before the handshake: a first byte that is not a TLS handshake record but a letter is an
    /// HTTP request sent to the HTTPS port. It is answered in plain text, 400, and closed; nil
    /// for anything else (the handshake goes on, and fails if it is not TLS).
    func refusePlainHTTP() -> ReadOutcome? {
        var first: UInt8 = 0
        let peeked = withUnsafeMutableBytes(of: &first) { try? Posix.peek(fd.raw, $0) }
        guard case .done(1)? = peeked, (first >= 0x41 && first <= 0x5A) || (first >= 0x61 && first <= 0x7A) else {
            return nil
        }
        tls = nil
        let outcome = readSome()
        guard outcome == .data else { return outcome }
        refuse(
            HTTPError(400, "a plain HTTP request was sent to the HTTPS port"),
            log: "client \(clientAddress) sent plain HTTP to an HTTPS port: 400")
        return .data
    }

    /// sendFile over TLS: with kernel TLS, sendfile through the session; else the file is
    /// copied into the output `fileChunk` at a time, each sent before the next is read.
    func sendFileOverTLS(_ tls: TLSSession) -> Bool {
        guard var file = request.file else { return !isClosed }
        while true {
            guard flushSome() else {
                request.file = file
                guard !isClosed else { return false }
                readWatcher.disarm()
                armWriteWatcher(timeout: worker.config.writeTimeout)
                return false
            }
            if file.remaining == 0 { break }
            var n = 0
            if tls.kernelSends {
                switch tls.sendFile(file.fd, offset: file.offset, count: file.remaining) {
                case .done(let sent):
                    n = sent
                    bytesOut.add(sent)
                case .wantRead, .wantWrite:
                    request.file = file
                    readWatcher.disarm()
                    armWriteWatcher(timeout: worker.config.writeTimeout)
                    return false
                case .closed, .failed:
                    request.file = file
                    close()
                    return false
                }
            } else {
                let chunk = min(file.remaining, Self.fileChunk)
                let base = output.bytes.count
                output.bytes.append(contentsOf: repeatElement(0, count: chunk))
                n =
                    output.bytes.withUnsafeMutableBytes {
                        try? Posix.pread(file.fd, UnsafeMutableRawBufferPointer(rebasing: $0[base...]), at: file.offset)
                    } ?? -1
                output.bytes.removeLast(chunk - max(n, 0))
            }
            if n <= 0 {
                // The file shrank under us (or cannot be read): as for sendfile, a static
                // response cannot be completed; an application's ends short.
                guard request.response != nil else {
                    request.file = file
                    close()
                    return false
                }
                file.remaining = 0
                continue
            }
            file.offset += n
            file.sent += n
            file.remaining -= n
        }
        request.file = nil
        request.response?.fileSent(file.sent)
        return true
    }
}

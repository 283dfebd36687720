internal import DEventLoop
internal import DHTTP1
internal import DPosix
internal import DTLS
internal import DWSGI

/// A file sent with sendfile as the socket takes it: a file_wrapper file, or a static file.
struct FileBody {
    let fd: CInt
    var offset: Int
    var remaining: Int
    var sent = 0
    /// Keeps a static file open while it is sent.
    let owner: OpenFile?
}

/// What a request's application sees of its connection (the body, already received; the
/// output buffer), and the writing of that output.
extension Connection: WSGITransport {
    func readBody(into buffer: UnsafeMutableRawBufferPointer) throws(WSGIError) -> Int {
        guard let body = request.body, !buffer.isEmpty else { return 0 }
        do {
            return try body.read(into: buffer, from: input)
        } catch {
            throw WSGIError(.clientGone, "reading the buffered request body: \(error)")
        }
    }

    func keepAliveAllowed() -> Bool {
        !worker.drainRequested
    }

    var unsentCount: Int { output.bytes.count - outputSent }

    func sendBuffered(wait: Bool) throws(WSGIError) {
        while outputSent < output.bytes.count {
            let result: Posix.IOResult
            if let tls {
                let sent = output.bytes.withUnsafeBytes {
                    tls.write(UnsafeRawBufferPointer(rebasing: $0[outputSent...]))
                }
                switch sent {
                case .done(let n): result = .done(n)
                case .wantRead, .wantWrite: result = .wouldBlock
                case .closed: throw WSGIError(.clientGone, "writing the response: the client closed the connection")
                case .failed(let reason): throw WSGIError(.clientGone, "writing the response: \(reason)")
                }
            } else {
                do {
                    result = try output.bytes.withUnsafeBytes { raw throws(SystemError) in
                        try Posix.send(fd.raw, UnsafeRawBufferPointer(rebasing: raw[outputSent...]))
                    }
                } catch {
                    throw WSGIError(.clientGone, "writing the response: \(error)")
                }
            }
            switch result {
            case .done(let n):
                outputSent += n
                bytesOut.add(n)
            case .wouldBlock:
                guard wait else { return }
                let timeout = worker.config.writeTimeout
                let ready: Bool
                do {
                    ready = try Posix.poll(fd.raw, events: Posix.pollOut, timeoutMilliseconds: CInt(timeout * 1000))
                } catch {
                    throw WSGIError(.clientGone, "writing the response: \(error)")
                }
                if !ready {
                    throw WSGIError(.timeout, "writing the response: the client read nothing for \(Int(timeout)) s")
                }
            }
        }
        output.bytes.removeAll(keepingCapacity: true)
        outputSent = 0
    }

    /// Writes what the socket takes now; true when nothing is left. A failed write closes.
    func flushSome() -> Bool {
        do throws(WSGIError) {
            try sendBuffered(wait: false)
        } catch {
            close()
            return false
        }
        return outputSent == 0 && output.bytes.isEmpty
    }

    /// Sends what the socket takes of the current request's file. True when all of it is out
    /// (a file_wrapper response is told how much went) or there is none; false while the client
    /// is slow (the write watcher is armed) or when the connection closed.
    func sendFile() -> Bool {
        if let tls { return sendFileOverTLS(tls) }
        guard var file = request.file else { return !isClosed }
        while file.remaining > 0 {
            let result: Posix.IOResult
            do {
                result = try Posix.sendfile(fd.raw, file.fd, offset: &file.offset, count: file.remaining)
            } catch {
                request.file = file
                close()
                return false
            }
            switch result {
            case .done(0):
                // The file shrank under us. A static response cannot be completed; an
                // application's ends short, and the bridge closes the connection after it.
                guard request.response != nil else {
                    request.file = file
                    close()
                    return false
                }
                file.remaining = 0
            case .done(let n):
                file.sent += n
                file.remaining -= n
                bytesOut.add(n)
            case .wouldBlock:
                request.file = file
                readWatcher.disarm()
                armWriteWatcher(timeout: worker.config.writeTimeout)
                return false
            }
        }
        request.file = nil
        request.response?.fileSent(file.sent)
        return true
    }
}

import Foundation

struct ClientError: Error, CustomStringConvertible {
    let description: String
}

/// One parsed HTTP response.
struct HTTPResponse {
    var status: Int
    var reason: String
    var version: String
    var headers: [(String, String)]
    var body: [UInt8]
    var chunked: Bool

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    func headers(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }

    var text: String { String(decoding: body, as: UTF8.self) }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
}

/// A raw TCP (or unix) client: sends exact bytes, reads and parses responses itself.
final class RawClient {
    let fd: Int32
    var buffer: [UInt8] = []
    var eof = false

    /// `host`: an IPv4 or IPv6 address. `receiveBuffer`: SO_RCVBUF, set before connecting so
    /// the window is small from the start.
    init(port: Int, host: String = "127.0.0.1", receiveBuffer: Int32? = nil) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let rc: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = UInt16(port).bigEndian
            inet_pton(AF_INET6, host, &addr.sin6_addr)
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = UInt16(port).bigEndian
            inet_pton(AF_INET, host, &addr.sin_addr)
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            throw ClientError(description: "connect to \(port): errno \(e)")
        }
    }

    init(unixPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(unixPath.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 {
            Glibc.close(fd)
            throw ClientError(description: "connect to \(unixPath): errno \(errno)")
        }
    }

    deinit { Glibc.close(fd) }

    /// This end's port.
    var localPort: Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Bytes the kernel has received for this socket that nobody has read yet.
    var unreadInKernel: Int {
        var n: Int32 = 0
        _ = ioctl(fd, UInt(FIONREAD), &n)
        return Int(n)
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { throw ClientError(description: "send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Reads more bytes; false on EOF or timeout.
    @discardableResult
    func fill(timeout: TimeInterval) throws -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&p, 1, Int32(timeout * 1000))
        if rc == 0 {
            throw ClientError(
                description:
                    "timed out waiting for the server (have \(buffer.count) bytes: \(String(decoding: buffer.prefix(200), as: UTF8.self).debugDescription))"
            )
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 {
            eof = true
            return false
        }
        buffer += chunk[0..<n]
        return true
    }

    /// Reads one response. `head`: the request was HEAD (no body follows).
    func readResponse(head: Bool = false, timeout: TimeInterval = 10) throws -> HTTPResponse {
        while true {
            // A response starts exactly where the previous one ended: any stray byte (a body
            // sent after a 204, 304 or HEAD response) is an error, not something to skip.
            if buffer.count >= 7 && !buffer.starts(with: Array("HTTP/1.".utf8)) {
                throw ClientError(
                    description:
                        "the response does not start with a status line: \(String(decoding: buffer.prefix(80), as: UTF8.self).debugDescription)"
                )
            }
            if let end = findHeadEnd() {
                let headText = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2).map(String.init)
                guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
                    throw ClientError(description: "bad status line in \(headText.debugDescription)")
                }
                var headers: [(String, String)] = []
                for line in lines where !line.isEmpty {
                    let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                    headers.append((parts[0], parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""))
                }
                var response = HTTPResponse(
                    status: status, reason: statusLine.count > 2 ? statusLine[2] : "", version: statusLine[0],
                    headers: headers, body: [], chunked: false)
                let bodyStart = end + 4
                if head || status < 200 || status == 204 || status == 304 {
                    buffer.removeFirst(bodyStart)
                    return response
                }
                if let cl = response.header("Content-Length").flatMap(Int.init) {
                    while buffer.count < bodyStart + cl {
                        if try !fill(timeout: timeout) {
                            throw ClientError(description: "EOF in body (\(buffer.count - bodyStart) of \(cl))")
                        }
                    }
                    response.body = Array(buffer[bodyStart..<(bodyStart + cl)])
                    buffer.removeFirst(bodyStart + cl)
                    return response
                }
                if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
                    response.chunked = true
                    buffer.removeFirst(bodyStart)
                    response.body = try readChunked(timeout: timeout)
                    return response
                }
                while try fill(timeout: timeout) {}
                response.body = Array(buffer[bodyStart...])
                buffer.removeAll()
                return response
            }
            if try !fill(timeout: timeout) {
                throw ClientError(
                    description:
                        "connection closed before a complete response (\(buffer.count) bytes: \(String(decoding: buffer, as: UTF8.self).debugDescription))"
                )
            }
        }
    }

    func readChunked(timeout: TimeInterval) throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let lineEnd = try waitFor([13, 10], timeout: timeout)
            let size = Int(String(decoding: buffer[0..<lineEnd], as: UTF8.self), radix: 16)!
            buffer.removeFirst(lineEnd + 2)
            if size == 0 {
                _ = try waitFor([13, 10], timeout: timeout)
                buffer.removeFirst(2)
                return body
            }
            while buffer.count < size + 2 {
                if try !fill(timeout: timeout) { throw ClientError(description: "EOF in chunk") }
            }
            body += buffer[0..<size]
            buffer.removeFirst(size + 2)
        }
    }

    func waitFor(_ needle: [UInt8], timeout: TimeInterval) throws -> Int {
        while true {
            if buffer.count >= needle.count {
                for i in 0...(buffer.count - needle.count) where Array(buffer[i..<(i + needle.count)]) == needle {
                    return i
                }
            }
            if try !fill(timeout: timeout) { throw ClientError(description: "EOF waiting for data") }
        }
    }

    func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// True when the server closes the connection (EOF or reset) within `timeout`, with no
    /// further bytes.
    func isClosedByServer(timeout: TimeInterval = 5) -> Bool {
        let before = buffer.count
        do {
            while try fill(timeout: timeout) {}
            return buffer.count == before
        } catch {
            return false
        }
    }

    /// Reads (keeping the bytes in `buffer`) until the server closes the connection: true at
    /// EOF or a reset, false when it is still open after `timeout` seconds without bytes.
    func readUntilClosed(timeout: TimeInterval = 5) -> Bool {
        do {
            while try fill(timeout: timeout) {}
            return true
        } catch {
            return false
        }
    }

    /// Reads and drops whatever is left until the server's close; false if the connection is
    /// still open after `timeout` seconds without bytes.
    func drainsToEnd(timeout: TimeInterval = 5) -> Bool {
        do {
            while try fill(timeout: timeout) { buffer.removeAll(keepingCapacity: true) }
            return true
        } catch {
            return false
        }
    }

    /// Sends a request and reads its response on a fresh connection.
    static func request(
        _ port: Int, _ raw: String, head: Bool = false, timeout: TimeInterval = 10
    ) throws -> HTTPResponse {
        let c = try RawClient(port: port)
        try c.send(raw)
        return try c.readResponse(head: head, timeout: timeout)
    }

    static func get(_ port: Int, _ path: String, headers: String = "") throws -> HTTPResponse {
        try request(port, "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\(headers)Connection: close\r\n\r\n")
    }
}

import DConfig
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// `dispatchd top`'s reader of a master's --stats listener: a GET over TCP or a unix socket,
/// one connection per request, with a timeout.
struct StatsClient {
    let address: BindAddress
    var timeout: Double = 2

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The body of a 200 response to `path`.
    func get(_ path: String) throws(Failure) -> [UInt8] {
        let fd = try connect()
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: dispatchd\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count
        else { throw Failure(description: "\(address): cannot send: \(String(cString: strerror(errno)))") }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else {
                throw Failure(description: "\(address): no answer: \(String(cString: strerror(errno)))")
            }
            response += chunk[0..<n]
        }
        guard let end = response.firstRange(of: [13, 10, 13, 10]) else {
            throw Failure(description: "\(address): not an HTTP response")
        }
        let statusLine = String(decoding: response[..<(response.firstIndex(of: 13) ?? end.lowerBound)], as: UTF8.self)
        guard statusLine.split(separator: " ").dropFirst().first == "200" else {
            throw Failure(description: "\(address)\(path): \(statusLine)")
        }
        return Array(response[end.upperBound...])
    }

    func connect() throws(Failure) -> CInt {
        func failed(_ what: String) -> Failure {
            Failure(description: "\(address): \(what): \(String(cString: strerror(errno)))")
        }
        switch address {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw failed("socket") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                close(fd)
                throw Failure(description: "\(address): the path is too long")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes + [0]) }
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
                }
            }
            guard ok else {
                let error = failed("cannot connect")
                close(fd)
                throw error
            }
            return fd
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>? = nil
            let rc = getaddrinfo(host ?? "127.0.0.1", String(port), &hints, &list)
            guard rc == 0, let first = list else {
                throw Failure(description: "\(address): \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(list) }
            var error = Failure(description: "\(address): no address")
            var info: UnsafeMutablePointer<addrinfo>? = first
            while let ai = info {
                let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
                if fd >= 0 {
                    if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
                    error = failed("cannot connect")
                    close(fd)
                }
                info = ai.pointee.ai_next
            }
            throw error
        }
    }
}

internal import DEventLoop
internal import DPosix

/// --stats: a small HTTP/1.1 server on the master's own loop (never a worker's, so it answers
/// while every worker is busy or stuck). One GET per connection, answered and closed; a client
/// gets 5 s to send its request line. What each path answers comes from `respond`.
final class StatsServer {
    let listener: OwnedFD
    let loop: EventLoop
    var watcher: Watcher! = nil
    var clients: [ObjectIdentifier: Client] = [:]
    /// (status, content type, body) for a path.
    let respond: (String) -> (Int, String, String)

    final class Client {
        let fd: OwnedFD
        var buffer: [UInt8] = []
        var watcher: Watcher! = nil
        init(_ fd: consuming OwnedFD) { self.fd = fd }
    }

    init(listener: consuming OwnedFD, loop: EventLoop, respond: @escaping (String) -> (Int, String, String)) {
        self.listener = listener
        self.loop = loop
        self.respond = respond
        watcher = Watcher(loop: loop, kind: .read(self.listener.raw), persist: true) { [unowned self] _ in
            self.acceptClients()
        }
        watcher.arm()
    }

    func stop() {
        watcher.disarm()
        for client in clients.values { client.watcher.disarm() }
        clients.removeAll()
    }

    func acceptClients() {
        var peer = PeerAddress()
        while let accepted = try? Socket.accept(listener.raw, peer: &peer) {
            let client = Client(accepted)
            client.watcher = Watcher(loop: loop, kind: .read(client.fd.raw), persist: true) {
                [unowned self, unowned client] what in
                self.readable(client, timedOut: what.contains(.timeout))
            }
            client.watcher.arm(timeout: 5)
            clients[ObjectIdentifier(client)] = client
        }
    }

    func readable(_ client: Client, timedOut: Bool) {
        if !timedOut {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let result = chunk.withUnsafeMutableBytes { try? Posix.read(client.fd.raw, $0) }
            switch result {
            case .done(let n)? where n > 0:
                client.buffer += chunk[0..<n]
                let text = String(decoding: client.buffer, as: UTF8.self)
                guard text.contains("\r\n\r\n") || text.contains("\n\n") || client.buffer.count > 8192 else { return }
                // ("\r\n" is one Character: isNewline covers it.)
                answer(client, requestLine: text.split(whereSeparator: \.isNewline).first ?? "")
            case .wouldBlock?:
                return
            default:
                break
            }
        }
        finish(client)
    }

    func answer(_ client: Client, requestLine: Substring) {
        let parts = requestLine.split(separator: " ")
        var (status, type, body) = (405, "text/plain", "only GET\n")
        if parts.count == 3, parts[0] == "GET" || parts[0] == "HEAD" {
            (status, type, body) = respond(String(parts[1].prefix { $0 != "?" }))
        }
        let reason =
            [200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][status] ?? "OK"
        let bodyBytes = parts.first == "HEAD" ? [] : Array(body.utf8)
        let head =
            "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        // Small: the socket's buffer takes it at once (a client that reads nothing loses the rest).
        (Array(head.utf8) + bodyBytes).withUnsafeBytes { _ = try? Posix.send(client.fd.raw, $0) }
    }

    func finish(_ client: Client) {
        client.watcher.disarm()
        clients[ObjectIdentifier(client)] = nil
    }
}

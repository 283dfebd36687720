internal import DHTTP1
internal import DWSGI

/// The uwsgi protocol (nginx's `uwsgi_pass`): the request's packet becomes the HTTP/1.0 head it
/// stands for (`UWSGIPacket`), parsed by the same strict parser as any request, and its vars go
/// into the environ as the front server sent them. HTTP/1.0 without keep-alive: the response
/// ends with the connection, as the protocol has it.
extension Connection {
    /// Replaces the packet at `start` with its HTTP head once all of it is here. nil: more bytes
    /// are needed; false: refused (the refusal is queued); true: the head is in the input.
    func translateUWSGIPacket() -> Bool? {
        switch UWSGIPacket.parse(input.bytes(start..<input.count), maxSize: worker.config.limits.headSize) {
        case .incomplete:
            return nil
        case .invalid(let error):
            refuse(error, log: "rejected uwsgi packet from \(clientAddress): \(error.status) \(error.reason)")
            return false
        case .complete(let packet):
            gatewayVars = packet.vars
            let head = packet.httpHead
            let end = start + packet.packetLength
            if head.count > packet.packetLength {
                let grow = head.count - packet.packetLength
                input.reserve(input.count + grow)
                input.move(end..<input.count, to: end + grow)
                input.count += grow
            } else {
                input.removeRange(start + head.count..<end)
            }
            head.withUnsafeBytes { input.write($0, at: start) }
            return true
        }
    }
}

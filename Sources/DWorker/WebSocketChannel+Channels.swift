internal import DHTTP1
internal import DIPC
internal import DWSGI
internal import DWebSocket

/// A WebSocket as a subscriber of dispatchd.channels (ChannelHub): joining and leaving
/// channels, and taking a published message.
extension WebSocketChannel {
    func subscribe(_ channel: String) -> Bool {
        guard isConnected else { return false }
        hub.subscribe(self, to: channel)
        return true
    }

    func unsubscribe(_ channel: String) {
        hub.unsubscribe(self, from: channel)
    }

    enum Delivery {
        /// Its frame was appended to the output (the hub counts these messages sent, once per
        /// published message: no shared-memory atomic per subscriber).
        case delivered
        /// Compressed and queued by `send`, which counted it.
        case compressed
        /// Its output was over `limit`: it is closed with 1008 instead.
        case overflowed
        /// It is closing or closed: nothing was sent.
        case closed
    }

    /// A published message: `frame` is its uncompressed WebSocket frame (the same for every
    /// subscriber); a connection with permessage-deflate compresses `payload` itself. A
    /// subscriber whose unsent output is over `limit` (it does not read) is closed with 1008.
    func deliver(frame: [UInt8], payload: UnsafeRawBufferPointer, binary: Bool, limit: Int) -> Delivery {
        guard isConnected else { return .closed }
        // One strong reference for the whole delivery (each use of the unowned property takes one).
        let connection = self.connection
        let unsent = connection.unsentCount
        if unsent + frame.count > limit {
            worker.log(
                "WebSocket client \(connection.clientAddress) has \(unsent) bytes unsent (over --websocket-send-queue \(limit)); closing it with 1008"
            )
            close(code: 1008, reason: "send queue over \(limit) bytes")
            return .overflowed
        }
        if let deflate, payload.count >= deflate.compressMinimum {
            _ = send(payload, binary: binary)
            return .compressed
        }
        connection.output.bytes.append(contentsOf: frame)
        connection.sendSoon()
        return .delivered
    }
}

internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// --stats: what the master serves about itself and its workers. Every figure is exact: the
/// workers count on the scoreboard (their slots, in shared memory), and what a worker counted
/// is kept when it exits, so a scrape sees every request, whichever worker answered it.
extension Supervisor {
    func startStats() throws(SystemError) {
        guard let address = config.listeners.stats else { return }
        let fd: OwnedFD
        switch address {
        case .tcp(let host, let port): fd = try Socket.listenTCP(host: host, port: port, backlog: 64)
        case .unix(let path):
            fd = try Socket.listenUnix(path: path, backlog: 64)
            unixPaths.append(path)
        }
        if let local = Socket.localEndpoint(fd.raw) {
            log(local.isUnix ? "stats on unix:\(local.host)" : "stats on http://\(local.host):\(local.port)")
        }
        statsServer = StatsServer(listener: fd, loop: loop) { [unowned self] path in self.statsResponse(path) }
    }

    /// A reaped worker: what it counted joins the totals; why it exited is counted.
    func countExit(pid: Int32, slot: Int, status: CInt) {
        retiredCounts.add(scoreboard.counts(slot))
        let reason: String
        if let given = exitReasons.removeValue(forKey: pid) {
            reason = given
        } else if pool.shuttingDown {
            reason = "shutdown"
        } else if Posix.terminatingSignal(ofWaitStatus: status) != nil {
            reason = "signal"
        } else {
            reason = Posix.exitCode(ofWaitStatus: status) == 0 ? "exit" : "crash"
        }
        exitsByReason[reason, default: 0] += 1
    }

    func statsResponse(_ path: String) -> (Int, String, String) {
        switch path {
        case "/healthz": return (200, "text/plain", "ok\n")
        case "/readyz":
            let ready = readyWorkers > 0 && !stopRequested
            return ready ? (200, "text/plain", "ready\n") : (503, "text/plain", "not ready\n")
        case "/workers": return (200, "application/json", workersJSON())
        case "/metrics": return (200, "text/plain; version=0.0.4; charset=utf-8", metricsText())
        default: return (404, "text/plain", "/metrics, /healthz, /readyz, /workers\n")
        }
    }

    /// Slots of live workers: what they count now is not in `retiredCounts` yet.
    var liveSlots: [Int] { (0..<pool.count).filter { pool.pid($0) != nil } }

    func stateName(_ slot: Int) -> String {
        pool.isDraining(slot) ? "draining" : pool.isReady(slot) ? "ready" : "starting"
    }

    func inFlight(_ slot: Int) -> Int {
        let threads = config.workers.threads
        if threads <= 1 { return scoreboard.busySince(slot) != 0 ? 1 : 0 }
        // Request threads, and the loop's own row (WebSocket handler steps).
        return (0...threads).filter { scoreboard.busySince(scoreboard.thread($0, of: slot)) != 0 }.count
    }

    func metricsText() -> String {
        var counts = retiredCounts
        for slot in liveSlots { counts.add(scoreboard.counts(slot)) }
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        metric("dispatchd_requests_total", "counter", "HTTP requests answered, by status class.")
        for (i, n) in counts.classes.enumerated() { out += "dispatchd_requests_total{status=\"\(i + 1)xx\"} \(n)\n" }
        func histogram(_ name: String, _ help: String, _ bounds: [Double], _ buckets: [UInt64], _ micros: UInt64) {
            metric(name, "histogram", help)
            var cumulative: UInt64 = 0
            for (i, bound) in bounds.enumerated() {
                cumulative &+= buckets[i]
                out += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative &+= buckets[bounds.count]
            out += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n"
            out += "\(name)_sum \(Double(micros) / 1e6)\n"
            out += "\(name)_count \(cumulative)\n"
        }
        histogram(
            "dispatchd_request_duration_seconds", "Time from a request's head to the end of its response.",
            Scoreboard.durationBounds, counts.buckets, counts.durationMicroseconds)
        histogram(
            "dispatchd_queue_seconds",
            "Time a connection waited for a worker: in the listener's backlog (from its request's arrival, when accepting had paused) and from the master's accept to a worker's taking it.",
            Scoreboard.queueBounds, counts.queueBuckets, counts.queueMicroseconds)
        metric("dispatchd_requests_in_flight", "gauge", "Requests inside the application now.")
        out += "dispatchd_requests_in_flight \(liveSlots.map(inFlight).reduce(0, +))\n"
        metric(
            "dispatchd_connections_accepted_total", "counter",
            "Connections accepted: by the master, or by the workers themselves (--accept-mode shared).")
        out += "dispatchd_connections_accepted_total \(acceptedConnections &+ counts.accepted)\n"
        metric(
            "dispatchd_connections_waiting", "gauge",
            "Connections no worker has taken yet: in the listeners' backlog, held by the master, in a worker's channel."
        )
        let backlog = listeners.compactMap { Socket.acceptQueue($0.fd.raw)?.waiting }.reduce(0, +)
        out += "dispatchd_connections_waiting{where=\"backlog\"} \(backlog)\n"
        out += "dispatchd_connections_waiting{where=\"master\"} \(pending.map(\.count).reduce(0, +))\n"
        let inChannels = liveSlots.map { pool.inChannel(slot: $0, received: scoreboard.received($0)) }.reduce(0, +)
        out += "dispatchd_connections_waiting{where=\"channel\"} \(inChannels)\n"
        metric("dispatchd_websockets_open", "gauge", "WebSocket connections open now.")
        out += "dispatchd_websockets_open \(liveSlots.map(scoreboard.webSocketsOpen).reduce(0, +))\n"
        metric("dispatchd_websocket_messages_total", "counter", "WebSocket messages, by direction.")
        out += "dispatchd_websocket_messages_total{direction=\"received\"} \(counts.messagesIn)\n"
        out += "dispatchd_websocket_messages_total{direction=\"sent\"} \(counts.messagesOut)\n"
        metric(
            "dispatchd_channel_messages_total", "counter",
            "dispatchd.channels messages: published in the workers, relayed by the master to other workers, dropped for a worker whose bus queue was full, delivered to subscribers."
        )
        out += "dispatchd_channel_messages_total{event=\"published\"} \(counts.channelPublished)\n"
        out += "dispatchd_channel_messages_total{event=\"relayed\"} \(relay.forwarded)\n"
        out += "dispatchd_channel_messages_total{event=\"dropped\"} \(relay.dropped)\n"
        out += "dispatchd_channel_messages_total{event=\"delivered\"} \(counts.channelDelivered)\n"
        if let bridge {
            metric(
                "dispatchd_channels_bridge_up", "gauge",
                "1 while the --channels Redis bridge is connected and subscribed, 0 while it reconnects.")
            out += "dispatchd_channels_bridge_up \(bridge.state == .up ? 1 : 0)\n"
            metric(
                "dispatchd_channels_bridge_messages_total", "counter",
                "Channel messages sent to Redis, received from other instances through it, and not sent (Redis unavailable or too far behind)."
            )
            out += "dispatchd_channels_bridge_messages_total{event=\"sent\"} \(bridge.sent)\n"
            out += "dispatchd_channels_bridge_messages_total{event=\"received\"} \(bridge.received)\n"
            out += "dispatchd_channels_bridge_messages_total{event=\"dropped\"} \(bridge.dropped)\n"
        }
        metric(
            "dispatchd_channel_subscriptions", "gauge",
            "dispatchd.channels subscriptions held now (a WebSocket in three channels counts three).")
        out += "dispatchd_channel_subscriptions \(liveSlots.map(scoreboard.subscriptions).reduce(0, +))\n"
        metric(
            "dispatchd_websocket_send_queue_closes_total", "counter",
            "WebSockets closed with 1008 because a channel message found their unsent output over --websocket-send-queue."
        )
        out += "dispatchd_websocket_send_queue_closes_total \(counts.channelOverflowed)\n"
        metric(
            "dispatchd_bytes_total", "counter",
            "Bytes read from clients and written to them (HTTP and WebSocket bytes; after TLS).")
        out += "dispatchd_bytes_total{direction=\"in\"} \(counts.bytesIn)\n"
        out += "dispatchd_bytes_total{direction=\"out\"} \(counts.bytesOut)\n"
        metric("dispatchd_workers", "gauge", "Worker processes, by state.")
        for state in ["starting", "ready", "draining"] {
            out += "dispatchd_workers{state=\"\(state)\"} \(liveSlots.filter { stateName($0) == state }.count)\n"
        }
        metric("dispatchd_worker_exits_total", "counter", "Worker processes that exited, by reason.")
        for reason in [
            "crash", "signal", "timeout", "max-requests", "memory", "lifetime", "reload", "shutdown", "exit",
        ] {
            out += "dispatchd_worker_exits_total{reason=\"\(reason)\"} \(exitsByReason[reason] ?? 0)\n"
        }
        return out
    }

    func workersJSON() -> String {
        let now = MonotonicClock.nanoseconds()
        let rows = liveSlots.map { slot -> String in
            let pid = pool.pid(slot) ?? 0
            let busy = scoreboard.busySince(slot)
            var request = "null"
            var age = "null"
            if busy != 0, let line = scoreboard.request(slot, busySince: busy) {
                request = "\"" + Self.jsonEscaped(line) + "\""
                age = String(Double((now &- busy) / 1_000_000) / 1000)
            }
            let rss = Posix.residentBytes(pid: pid).map { $0 >> 10 }
            return
                "{\"worker\": \(pool.position(slot)), \"pid\": \(pid), \"state\": \"\(stateName(slot))\", "
                + "\"requests\": \(scoreboard.answered(slot)), \"rss_kib\": \(rss.map(String.init) ?? "null"), "
                + "\"websockets\": \(scoreboard.webSocketsOpen(slot)), \"in_flight\": \(inFlight(slot)), "
                + "\"request\": \(request), \"request_seconds\": \(age)}"
        }
        return "[" + rows.joined(separator: ",\n ") + "]\n"
    }

    static func jsonEscaped(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

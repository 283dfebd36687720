import FoundationEssentials

/// What `dispatchd top` shows: one frame of a master's /workers and /metrics, with rates from
/// the frame before (uwsgitop's view: a summary, then a row per worker).
struct TopView {
    struct Worker {
        var index: Int
        var pid: Int
        var state: String
        var requests: Double
        var rssKiB: Int?
        var webSockets: Int
        var request: String?
        var requestSeconds: Double?
    }

    struct Frame {
        var workers: [Worker]
        var metrics: [String: Double]
        /// Seconds, monotonic.
        var at: Double

        /// From /workers (JSON) and /metrics (the Prometheus text format).
        init(workersJSON: [UInt8], metricsText: [UInt8], at: Double) throws {
            workers = try JSONDecoder().decode([Listed].self, from: Data(workersJSON)).map { w in
                Worker(
                    index: w.worker ?? 0, pid: w.pid ?? 0, state: w.state ?? "?", requests: w.requests ?? 0,
                    rssKiB: w.rssKiB, webSockets: w.websockets ?? 0, request: w.request,
                    requestSeconds: w.requestSeconds)
            }
            metrics = Self.parseMetrics(String(decoding: metricsText, as: UTF8.self))
            self.at = at
        }

        /// A worker as /workers lists it (every field optional: an older master may lack some).
        struct Listed: Decodable {
            var worker: Int?
            var pid: Int?
            var state: String?
            var requests: Double?
            var rssKiB: Int?
            var websockets: Int?
            var request: String?
            var requestSeconds: Double?

            enum CodingKeys: String, CodingKey {
                case worker, pid, state, requests, websockets, request
                case rssKiB = "rss_kib"
                case requestSeconds = "request_seconds"
            }
        }

        /// `name{labels} value` lines; comments skipped.
        static func parseMetrics(_ text: String) -> [String: Double] {
            var out: [String: Double] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
                else { continue }
                out[String(line[..<space])] = value
            }
            return out
        }

        func metric(_ name: String) -> Double { metrics[name] ?? 0 }

        var requestsTotal: Double {
            ["1xx", "2xx", "3xx", "4xx", "5xx"].map { metric("dispatchd_requests_total{status=\"\($0)\"}") }
                .reduce(0, +)
        }
    }

    let address: String

    func render(_ frame: Frame, previous: Frame?) -> String {
        let elapsed = previous.map { frame.at - $0.at } ?? 0
        func rate(_ now: Double, _ before: Double?) -> String {
            guard let before, elapsed > 0 else { return "-" }
            return String(Int(((now - before) / elapsed).rounded()))
        }
        let m = frame.metric
        let states = ["ready", "starting", "draining"].map { "\(Int(m("dispatchd_workers{state=\"\($0)\"}"))) \($0)" }
        let waiting = ["backlog", "master", "channel"].map { m("dispatchd_connections_waiting{where=\"\($0)\"}") }
            .reduce(0, +)
        var lines: [String] = []
        lines.append(
            "dispatchd \(address): workers \(states.joined(separator: ", ")); "
                + "\(rate(frame.requestsTotal, previous?.requestsTotal)) req/s; "
                + "in flight \(Int(m("dispatchd_requests_in_flight"))); waiting \(Int(waiting)); "
                + "websockets \(Int(m("dispatchd_websockets_open")))")
        let classes = ["2xx", "3xx", "4xx", "5xx"].map {
            "\($0) \(Int(m("dispatchd_requests_total{status=\"\($0)\"}")))"
        }
        let count = m("dispatchd_request_duration_seconds_count")
        let mean = count > 0 ? m("dispatchd_request_duration_seconds_sum") / count * 1000 : 0
        lines.append(
            "requests \(classes.joined(separator: "  ")); mean \(Self.fixed(mean, 1)) ms; "
                + "accepted \(Int(m("dispatchd_connections_accepted_total")))")
        let exits = [
            "crash", "signal", "timeout", "max-requests", "memory", "lifetime", "reload",
        ].compactMap { reason -> String? in
            let n = Int(m("dispatchd_worker_exits_total{reason=\"\(reason)\"}"))
            return n > 0 ? "\(reason) \(n)" : nil
        }
        lines.append("worker exits: " + (exits.isEmpty ? "none" : exits.joined(separator: ", ")))
        lines.append("")
        lines.append(
            Self.row(["WORKER", "PID", "STATE", "REQUESTS", "REQ/S", "RSS MiB", "WS", "SECONDS", "REQUEST"]))
        for w in frame.workers {
            let before = previous?.workers.first { $0.pid == w.pid }?.requests
            lines.append(
                Self.row([
                    String(w.index), String(w.pid), w.state, String(Int(w.requests)), rate(w.requests, before),
                    w.rssKiB.map { Self.fixed(Double($0) / 1024, 1) } ?? "-", String(w.webSockets),
                    w.requestSeconds.map { Self.fixed($0, 1) } ?? "", w.request ?? "",
                ]))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static let widths = [8, 8, 10, 10, 7, 9, 5, 9]

    static func row(_ cells: [String]) -> String {
        var out = ""
        for (i, cell) in cells.enumerated() {
            if i < widths.count {
                out +=
                    cell.count >= widths[i] ? cell + " " : cell + String(repeating: " ", count: widths[i] - cell.count)
            } else {
                out += cell
            }
        }
        while out.last == " " { out.removeLast() }
        return out
    }

    /// `value` with `digits` decimals (printf's %.Nf, for the magnitudes shown here).
    static func fixed(_ value: Double, _ digits: Int) -> String {
        let scale = (0..<digits).reduce(1.0) { r, _ in r * 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return String(value) }
        let units = Int(scaled)
        let whole = units / Int(scale)
        let sign = value < 0 && units > 0 ? "-" : ""
        guard digits > 0 else { return sign + String(whole) }
        let fraction = String(units % Int(scale))
        return sign + String(whole) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}

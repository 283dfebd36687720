import Foundation
import Testing

/// Collects a child's output from a pipe on a background thread.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var ended = false

    init(_ pipe: Pipe) {
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else {
                handle.readabilityHandler = nil
                self?.lock.lock()
                self?.ended = true
                self?.lock.unlock()
                return
            }
            self.lock.lock()
            self.data.append(chunk)
            self.lock.unlock()
        }
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    /// Whether the writer closed the pipe and everything it wrote has been read.
    var isComplete: Bool {
        lock.lock()
        defer { lock.unlock() }
        return ended
    }
}

enum Paths {
    /// The dispatchd binary that `swift test` built (or $DISPATCHD_BINARY).
    static var binary: String {
        if let override = ProcessInfo.processInfo.environment["DISPATCHD_BINARY"] { return override }
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("dispatchd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/dispatchd").path
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let apps = fixtures.appendingPathComponent("apps").path
    /// The repository's root.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    /// The benchmark harness's apps (one is also a test of uWSGI compatibility).
    static let benchmarkApps = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Benchmarks/apps").path
    /// gunicorn's and llhttp's request corpora, kept in the repository (Tests/Fixtures).
    static let conformance = URL(fileURLWithPath: repository).appendingPathComponent("Tests/Fixtures/conformance/http")
}

struct ServerStartError: Error, CustomStringConvertible {
    let description: String
}

/// The real dispatchd binary, started on port 0 (or a unix socket) in the fixtures' apps
/// directory; ready once it printed its listening address and every worker reported ready.
/// `rlimit`: its descriptor limits (RLIMIT_NOFILE), set by prlimit, which then executes the
/// server in its own process (so `pid` is the server's).
final class ServerProcess {
    let process = Process()
    let stdout: OutputCollector
    let stderr: OutputCollector
    private(set) var port: Int = 0
    let workers: Int
    var pid: Int32 { process.processIdentifier }

    init(
        _ arguments: [String], workers: Int = 2, bind: String? = "127.0.0.1:0", waitReady: Bool = true,
        environment: [String: String] = [:], rlimit: (soft: Int, hard: Int)? = nil, chdir: String? = Paths.apps,
        wrapper: [String] = []
    ) throws {
        self.workers = workers
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        var args = ["--workers", String(workers)]
        if let chdir { args += ["--chdir", chdir] }
        if let bind { args += ["--bind", bind] }
        process.arguments = args + arguments
        if let rlimit {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                ["prlimit", "--nofile=\(rlimit.soft):\(rlimit.hard)", "--", Paths.binary] + args + arguments
        }
        if !wrapper.isEmpty {
            // A command that runs the server as its child (unshare --fork): `pid` is the wrapper's.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = wrapper + [Paths.binary] + args + arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["PYTHONUNBUFFERED"] = "1"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        stdout = OutputCollector(out)
        stderr = OutputCollector(err)
        try process.run()
        if waitReady { try waitUntilReady() }
    }

    func waitUntilReady(timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = stderr.text
            if port == 0,
                let range = text.range(of: #"listening on https?://[^ \n]*:(\d+)"#, options: .regularExpression)
            {
                let line = String(text[range])
                port = Int(line.split(separator: ":").last!)!
            }
            let ready = text.components(separatedBy: ") ready").count - 1
            if (port != 0 || text.contains("listening on ")) && ready >= workers { return }
            if !process.isRunning {
                throw ServerStartError(
                    description: "dispatchd exited during start-up (\(process.terminationStatus)):\n\(text)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw ServerStartError(description: "dispatchd did not become ready:\n\(stderr.text)")
    }

    /// The port of the first "listening on SCHEME://" line (https, uwsgi), once it was printed.
    func port(_ scheme: String) -> Int? {
        let text = stderr.text
        guard let range = text.range(of: "listening on \(scheme)://[^ \n]*:(\\d+)", options: .regularExpression) else {
            return nil
        }
        return Int(text[range].split(separator: ":").last!)
    }

    /// Waits until stderr contains `text` (output reaches the pipe after the response may).
    func stderrContains(_ text: String, timeout: TimeInterval = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderr.text.contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return stderr.text.contains(text)
    }

    /// Waits for the process to exit; its status, or nil on timeout.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { return nil }
        // What it wrote last may still be on its way through the pipes.
        let drained = Date().addingTimeInterval(2)
        while !(stdout.isComplete && stderr.isComplete) && Date() < drained { Thread.sleep(forTimeInterval: 0.005) }
        return process.terminationStatus
    }

    /// Worker pids, from the master's log lines, that are still alive.
    func liveWorkerPids() -> [Int32] {
        var pids: [Int32] = []
        let text = stderr.text
        for line in text.split(separator: "\n") where line.contains(") started") {
            if let r = line.range(of: #"pid (\d+)"#, options: .regularExpression) {
                let pid = Int32(line[r].dropFirst(4))!
                if ProcFS.isAlive(pid) { pids.append(pid) }
            }
        }
        return pids
    }

    /// The master's "worker N (pid P) exited: ..." lines so far, but for workers that were
    /// replaced and retired cleanly (exit status 0 after "retiring").
    var workerExits: [String] {
        let lines = stderr.text.split(separator: "\n")
        let retired = Set(
            lines.filter { $0.hasSuffix(") retiring") }.compactMap { line in
                line.range(of: #"\(pid \d+\)"#, options: .regularExpression).map { String(line[$0]) }
            })
        return lines.filter { line in
            guard line.contains(") exited: ") else { return false }
            let pid = line.range(of: #"\(pid \d+\)"#, options: .regularExpression).map { String(line[$0]) }
            return !(line.hasSuffix("exited: exit status 0") && pid.map(retired.contains) == true)
        }.map(String.init)
    }

    /// SIGTERM, then expects a clean exit 0 within `timeout`, with no worker left behind. A
    /// worker that exited before the stop (a crash the master quietly replaced) fails the test
    /// unless `allowWorkerExits`.
    func stop(
        timeout: TimeInterval = 15, allowWorkerExits: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        if !allowWorkerExits {
            #expect(
                workerExits.isEmpty, "a worker exited during the test:\n\(stderr.text)", sourceLocation: sourceLocation)
        }
        let workerPids = liveWorkerPids()
        kill(pid, SIGTERM)
        let status = waitForExit(timeout: timeout)
        if status == nil { kill(pid, SIGKILL) }
        #expect(
            status == 0, "dispatchd did not exit cleanly: \(String(describing: status))\n\(stderr.text)",
            sourceLocation: sourceLocation)
        for w in workerPids {
            var gone = false
            for _ in 0..<100 where !gone {
                gone = !ProcFS.isAlive(w)
                if !gone { Thread.sleep(forTimeInterval: 0.05) }
            }
            #expect(gone, "worker \(w) outlived the master", sourceLocation: sourceLocation)
        }
    }
}

/// Starts a server, runs `body`, and always stops it (expecting a clean exit, and no worker
/// exit before it unless `allowWorkerExits`).
func withServer(
    _ arguments: [String], workers: Int = 2, environment: [String: String] = [:], rlimit: (soft: Int, hard: Int)? = nil,
    allowWorkerExits: Bool = false, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (ServerProcess) throws -> Void
) throws {
    let server = try ServerProcess(arguments, workers: workers, environment: environment, rlimit: rlimit)
    do {
        try body(server)
    } catch {
        server.stop(allowWorkerExits: allowWorkerExits, sourceLocation: sourceLocation)
        throw error
    }
    server.stop(allowWorkerExits: allowWorkerExits, sourceLocation: sourceLocation)
}

enum Sockets {
    /// Runs `ss` with `arguments`; its output.
    static func ss(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ss"] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text
    }

    /// The backlog of the TCP listener on `port` (a listening socket's Send-Q in `ss`).
    static func listenBacklog(port: Int) throws -> Int {
        let text = try ss(["-ltnH", "sport = :\(port)"])
        // "LISTEN Recv-Q Send-Q Local Peer"
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 3, let backlog = Int(fields[2]) else {
            throw ClientError(description: "ss printed \(text.debugDescription)")
        }
        return backlog
    }

    /// The Send-Q of the server's end of the TCP connection from `clientPort` to `serverPort`
    /// (bytes the server's kernel holds that the client has not acknowledged), from `ss`.
    static func serverSendQueue(serverPort: Int, clientPort: Int) throws -> Int {
        let text = try ss(["-tnH", "state", "established", "( sport = :\(serverPort) and dport = :\(clientPort) )"])
        // "Recv-Q Send-Q Local Peer" (the state filter drops the State column).
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard fields.count >= 2, let sendQ = Int(fields[1]) else {
            throw ClientError(description: "ss printed \(text.debugDescription)")
        }
        return sendQ
    }
}

enum ProcFS {
    /// Alive and not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    static func openFDCount(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// Whether `pid` has `count` descriptors open within `timeout` (a close the server is about
    /// to make after writing a response may still be a moment away).
    static func waitForFDCount(_ pid: Int32, _ count: Int, timeout: TimeInterval = 1) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while openFDCount(pid) != count && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        return openFDCount(pid) == count
    }

    /// Resident memory in KiB.
    static func rssKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
}

/// `strace` attached to a running process for the length of `body`; the trace it wrote.
func traced(_ pid: Int32, calls: String, _ body: () throws -> Void) throws -> String {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("strace-\(UUID().uuidString).log").path
    defer { try? FileManager.default.removeItem(atPath: log) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    // The test's threads block signals, and a spawned child inherits the mask: strace starts
    // with an empty one, or SIGTERM would never stop it.
    let unblocked =
        "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execvp(sys.argv[1], sys.argv[1:])"
    p.arguments = [
        ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", "-c", unblocked,
        "strace", "-f", "-p", String(pid), "-e", "trace=\(calls)", "-o", log,
    ]
    let err = Pipe()
    p.standardError = err
    let messages = OutputCollector(err)
    try p.run()
    let deadline = Date().addingTimeInterval(10)
    while !messages.text.contains("attached") && p.isRunning && Date() < deadline {
        Thread.sleep(forTimeInterval: 0.01)
    }
    guard messages.text.contains("attached") else {
        throw ClientError(description: "strace did not attach: \(messages.text)")
    }
    defer {
        p.terminate()
        p.waitUntilExit()
    }
    try body()
    Thread.sleep(forTimeInterval: 0.1)
    p.terminate()
    p.waitUntilExit()
    return (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
}

/// Raises this test process's soft descriptor limit to its hard limit, for tests that hold many
/// client connections; fails the test when the hard limit is below `needed`.
func raiseDescriptorLimit(atLeast needed: Int) throws {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    try #require(
        limit.rlim_max >= rlim_t(needed), "the hard descriptor limit (\(limit.rlim_max)) is too low for this test")
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

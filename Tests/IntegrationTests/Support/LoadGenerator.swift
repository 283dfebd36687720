import Foundation

/// What Fixtures/loadgen.py prints when it stops (its docstring says what each count means).
struct LoadSummary: Decodable {
    struct Phase: Decodable {
        let sent: Int
        let answered: Int
        let failed: Int
        let failures: [String: Int]
    }

    let ok: Bool
    let sent: Int
    let answered: Int
    let failed: Int
    let failures: [String: Int]
    let byPhase: [String: Phase]
    let reconnects: [String: Int]
    let workerPids: Int
    let stoppedBy: String?
    /// Seconds into the run of the mark (SIGUSR1, just before the server's SIGTERM).
    let markAt: Double?
    let stuckClients: [String]
    /// The first failures one by one: when (seconds into the run), which client, the phase,
    /// the kind and what the client saw.
    let failureSamples: [Failure]

    struct Failure: Decodable, CustomStringConvertible {
        let t: Double
        let client: String
        let phase: String
        let kind: String
        let detail: String

        var description: String { "\(t) s \(client) (\(phase)): \(kind): \(detail)" }
    }

    enum CodingKeys: String, CodingKey {
        case ok, sent, answered, failed, failures, reconnects
        case byPhase = "by_phase"
        case workerPids = "worker_pids"
        case stoppedBy = "stopped_by"
        case markAt = "mark_at"
        case stuckClients = "stuck_clients"
        case failureSamples = "failure_samples"
    }
}

struct LoadGeneratorError: Error, CustomStringConvertible {
    let description: String
}

/// Fixtures/loadgen.py against a server on 127.0.0.1: keep-alive, Connection: close, slow, POST
/// and long-request clients against Fixtures/apps/loadapp.py, every answer checked. `arguments`
/// are the generator's own (client counts, --duration, --stop-on-refused=after-mark, ...). Signal
/// `process` with SIGUSR1 just before the server gets SIGTERM (the mark: later failures count as
/// "stopping", and a refused connect then ends the run), or SIGTERM to stop the clients.
final class LoadGenerator {
    let process = Process()
    private let stdout: OutputCollector
    private let stderr: OutputCollector

    init(port: Int, arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                ProcessInfo.processInfo.environment["PYTHON"] ?? "python3",
                Paths.fixtures.appendingPathComponent("loadgen.py").path, "--port", String(port),
            ] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        stdout = OutputCollector(out)
        stderr = OutputCollector(err)
        try process.run()
    }

    /// Waits for the generator to exit and decodes its summary; its exit status is 0 exactly
    /// when `summary.ok`.
    func summary(timeout: TimeInterval = 90) throws -> LoadSummary {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            throw LoadGeneratorError(description: "loadgen.py still running after \(timeout) s:\n\(stderr.text)")
        }
        // The pipe's last bytes reach the collector after the exit.
        var text = stdout.text
        for _ in 0..<100 where !text.hasSuffix("}\n") {
            Thread.sleep(forTimeInterval: 0.02)
            text = stdout.text
        }
        do {
            return try JSONDecoder().decode(LoadSummary.self, from: Data(text.utf8))
        } catch {
            throw LoadGeneratorError(
                description: "loadgen.py (exit \(process.terminationStatus)): \(error)\n\(text)\n\(stderr.text)")
        }
    }

    var log: String { stderr.text }

    /// SIGUSR1: the generator marks the time (requests after it count as sent while the server
    /// stops); waits up to 10 s for its "mark at" line.
    func mark() {
        kill(process.processIdentifier, SIGUSR1)
        let deadline = Date().addingTimeInterval(10)
        while !log.contains("loadgen: mark at") && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }
}

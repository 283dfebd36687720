import Foundation

/// `python app.py` whose `app.run()` (Flask-uWSGI-WebSocket's) turns the process into dispatchd:
/// started with `environment` changes (nil removes a variable), and waited for until a worker is
/// ready; its stderr is the server's log.
final class AppScript {
    let process = Process()
    let log: OutputCollector

    init(python: String, script: String, environment: [String: String?]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script]
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        process.environment = env
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        log = OutputCollector(err)
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !log.text.contains(") ready") && process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// SIGTERM; the exit status.
    func stop() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

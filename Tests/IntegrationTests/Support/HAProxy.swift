import Foundation

/// Debian's HAProxy (apt), in the foreground with a configuration the test writes.
final class HAProxy {
    let process = Process()
    let directory: String

    /// `sections`: frontends and backends after a TCP-mode `defaults`; returns once `port` accepts.
    init(sections: String, port: Int) throws {
        directory = NSTemporaryDirectory() + "dispatchd-haproxy-\(getpid())-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            global
                maxconn 512
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            \(sections)

            """
        _ = FileManager.default.createFile(atPath: directory + "/haproxy.cfg", contents: Data(config.utf8))
        let binary = FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : "haproxy"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [binary, "-db", "-f", directory + "/haproxy.cfg"]
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        output = OutputCollector(err)
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? RawClient(port: port)) != nil { return }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.2)
        throw ServerStartError(description: "haproxy did not start:\n\(output.text)")
    }

    let output: OutputCollector

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

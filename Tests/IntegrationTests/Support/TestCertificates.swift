import Foundation

/// A test CA and two server certificates it signed (for localhost and 127.0.0.1), made with the
/// openssl command in a temporary directory, once per test run.
struct TestCertificates {
    let directory: String
    var ca: String { directory + "/ca.pem" }
    /// The first server certificate and its key; `second*` another, for replacing it.
    var certificate: String { directory + "/a.pem" }
    var key: String { directory + "/a.key" }
    var secondCertificate: String { directory + "/b.pem" }
    var secondKey: String { directory + "/b.key" }

    static let shared: TestCertificates = {
        let dir = NSTemporaryDirectory() + "dispatchd-tls-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let ext = dir + "/ext.cnf"
        _ = FileManager.default.createFile(
            atPath: ext, contents: Data("subjectAltName=DNS:localhost,IP:127.0.0.1\n".utf8))
        var commands: [[String]] = [
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dispatchd test CA",
            ]
        ]
        for name in ["a", "b"] {
            commands.append(
                ["req"] + ec + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=localhost \(name)"])
            commands.append([
                "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                "\(name).pem", "-days", "2", "-extfile", ext,
            ])
        }
        for arguments in commands {
            let (status, output) = Command.run(["openssl"] + arguments, directory: dir)
            precondition(status == 0, "openssl \(arguments): \(output)")
        }
        return TestCertificates(directory: dir)
    }()

    /// The base64 SHA-256 of a certificate's public key: what Chromium's
    /// --ignore-certificate-errors-spki-list trusts.
    static func spkiHash(_ certificate: String) -> String {
        let (_, output) = Command.run([
            "sh", "-c",
            "openssl x509 -in '\(certificate)' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        ])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Runs a command (found on PATH) to its end: its status and its stdout and stderr together.
enum Command {
    /// `environment`: the whole environment of the command (nil: the tests' own).
    static func run(
        _ arguments: [String], input: String? = nil, directory: String? = nil, environment: [String: String]? = nil
    ) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { p.environment = environment }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let inPipe = Pipe()
        p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        do { try p.run() } catch { return (-1, "\(error)") }
        if let input {
            inPipe.fileHandleForWriting.write(Data(input.utf8))
            try? inPipe.fileHandleForWriting.close()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Python (the interpreter dispatchd embeds) running `script`.
    static func python(_ script: String, _ arguments: [String] = []) -> (Int32, String) {
        run([ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", "-c", script] + arguments)
    }
}

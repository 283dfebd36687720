import DWSGI
import Foundation
import Testing

/// The bridge's Python files (Sources/DWSGI/Python) as Python: linted, and their tracebacks
/// naming the file and line although the binary carries them embedded.
@Suite(.serialized) struct PythonSourceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let sources = root.appendingPathComponent("Sources/DWSGI/Python")

    /// pyflakes over every file (scripts/setup installs it): syntax errors, undefined names,
    /// unused imports. The names PythonRuntime.swift puts in the dispatchd module's namespace
    /// before dispatchd_websocket.py and dispatchd_lifecycle.py run, and those these two files
    /// define for each other (they run in one namespace), are builtins to them.
    @Test func pyflakesFindsNothing() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter {
            $0.hasSuffix(".py")
        }.sorted()
        #expect(
            files == [
                "dispatchd_channels.py", "dispatchd_core.py", "dispatchd_flask.py", "dispatchd_flask_ext.py",
                "dispatchd_flask_uwsgi_websocket.py", "dispatchd_lifecycle.py", "dispatchd_uwsgidecorators.py",
                "dispatchd_websocket.py",
            ])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", "-m", "pyflakes"]
            + files.map { Self.sources.appendingPathComponent($0).path }
            + [PythonHost.fixtures.appendingPathComponent("bridge_app.py").path]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "PYFLAKES_BUILTINS":
                "_sleep,_flask_code,_fuws_code,_schedule,_errors_shown,_uwsgidecorators_code,_CoroTask,"
                + "_background_ended,_log_error,_name,_channel_subscribe,_channel_unsubscribe,_channel_publish,"
                + "_uwsgi_socket,_Socket,WebSocket,AsyncWebSocket"
        ]) {
            $1
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "pyflakes (pip install pyflakes):\n\(output)")
    }

    /// A traceback through the embedded code names its source file and line, and the traceback
    /// module shows the line itself (from linecache: the file is not read at run time).
    @Test func tracebackNamesTheFileAndLine() async throws {
        let source = try String(contentsOf: Self.sources.appendingPathComponent("dispatchd_core.py"), encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.contains("raise AttributeError(") }) + 1
        let body = try await PythonHost.shared.get("/bootstrap-traceback")
        #expect(
            body.contains(
                """
                  File "Sources/DWSGI/Python/dispatchd_core.py", line \(line), in _load_app
                    raise AttributeError(
                """), "\(body)")
    }

    /// dispatchd.flask is a real submodule: importable, in sys.modules, named after its file.
    @Test func flaskSubmodule() async throws {
        let body = try await PythonHost.shared.get("/flask")
        #expect(
            body
                == #"{"file": "Sources/DWSGI/Python/dispatchd_flask.py", "code": "Sources/DWSGI/Python/dispatchd_flask.py", "#
                + #""doc": "dispatchd.flask: WebSocket routes for a Flask app, in the style of Flask-uWSGI-WebSocket.", "#
                + #""registered": true, "attribute": true}"#)
    }

    /// The loader in dispatchd_core.py reports an app that is not there (its traceback goes to
    /// stderr, as in the worker).
    @Test func loadFailures() async throws {
        let kinds = try await PythonHost.shared.run { runtime, _ in
            [("bridge_app", "no_such_callable"), ("no_such_module", "application"), ("bridge_app", "closed")].map {
                module, callable in
                runtime.acquireGIL()
                defer { runtime.releaseGIL() }
                do throws(WSGIError) {
                    _ = try runtime.loadApplication(module: module, callable: callable, wsgiFile: nil)
                    return "loaded"
                } catch {
                    return "\(error.kind): \(error.message)"
                }
            }
        }
        #expect(
            kinds == [
                "appLoad: failed to load the WSGI application bridge_app:no_such_callable",
                "appLoad: failed to load the WSGI application no_such_module:application",
                "appLoad: failed to load the WSGI application bridge_app:closed",
            ])
    }
}

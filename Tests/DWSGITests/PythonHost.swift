import DWSGI
import Foundation

/// The test process's one interpreter (CPython cannot be started a second time), with the
/// fixture app `Fixtures/bridge_app.py` loaded, on one thread of its own. The interpreter's
/// main thread state, greenlet's per-thread state and `threading.current_thread()` belong to
/// the thread that started it, while Swift Testing runs tests on any thread of its pool; so
/// every use of the bridge is a job on this thread, one at a time. Between jobs the GIL is
/// released, as in the worker's event loop.
final class PythonHost: @unchecked Sendable {
    static let shared = PythonHost()

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    /// Touched on the host's thread only.
    private var started: Result<(PythonRuntime, WSGIApplication), WSGIError>? = nil

    private init() {
        let thread = Thread { [unowned self] in self.serve() }
        thread.name = "python"
        // The size of a process's main thread stack, which is what CPython expects.
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func serve() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the host's thread, the interpreter started on first use. The GIL is
    /// released: the bridge's entry points take it, as in the worker.
    func run<T: Sendable>(_ body: @escaping @Sendable (PythonRuntime, WSGIApplication) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            jobs.append {
                continuation.resume(
                    with: Result {
                        let (runtime, app) = try self.start()
                        return try body(runtime, app)
                    })
            }
            condition.signal()
            condition.unlock()
        }
    }

    /// Sends a request through the fixture app; see `Exchange.perform`.
    func exchange(
        _ request: String, body: [UInt8] = [], readPiece: Int = 1 << 20, sendWindow: Int? = nil,
        clientGone: Bool = false, abortOnMore: Bool = false
    ) async throws -> Exchange {
        try await run { _, app in
            let transport = FakeTransport(
                body: body, readPiece: readPiece, sendWindow: sendWindow, clientGone: clientGone)
            return Exchange.perform(app, request: request, transport: transport, abortOnMore: abortOnMore)
        }
    }

    /// The body of a GET for `target` (HTTP/1.1, no request body).
    func get(_ target: String) async throws -> String {
        try await exchange("GET \(target) HTTP/1.1\r\nHost: test\r\n\r\n").text.split(
            separator: "\r\n\r\n", maxSplits: 1
        ).last.map(String.init) ?? ""
    }

    private func start() throws(WSGIError) -> (PythonRuntime, WSGIApplication) {
        if started == nil {
            started = Result { () throws(WSGIError) in
                let runtime = try PythonRuntime(virtualenv: nil, pythonPath: [Self.fixtures.path])
                let app = try runtime.loadApplication(module: "bridge_app", callable: "application", wsgiFile: nil)
                runtime.releaseGIL()
                return (runtime, app)
            }
        }
        return try started!.get()
    }
}

internal import CDPython

/// A suspended WebSocket handler (a greenlet, or a coroutine with its context), held by the
/// worker while it waits for a message, for its output to drain, or for a timer.
public final class PythonTask {
    let object: PyObj

    /// Retains `object` (the GIL is held).
    init(_ object: PyObj) {
        Py_INCREF(object)
        self.object = object
    }

    deinit {
        // The worker may drop a task on the event loop, without the GIL.
        let state = PyGILState_Ensure()
        Py_DECREF(object)
        PyGILState_Release(state)
    }
}

/// How a handler task stands after it ran.
public enum TaskState: Sendable {
    /// Waiting (for a message, a drain, a timer).
    case suspended
    /// Returned.
    case finished
    /// Raised (the traceback is on stderr).
    case failed
}

/// What a handler waits for.
public enum TaskWait: Int, Sendable {
    case message = 0
    case drain = 1
}

/// A message taken off a WebSocket, for the handler.
public enum WebSocketReceive {
    case message(binary: Bool, payload: [UInt8])
    /// Nothing now: the handler waits.
    case nothing
    case closed
}

/// The worker's side of one WebSocket, as the Python API sees it. Calls come with the GIL
/// held, from handler code; none of them waits.
public protocol WebSocketEndpoint: AnyObject {
    /// Sends the 101 answer. An error message when it cannot (the subprotocol was not offered,
    /// or the handshake was answered already).
    func acceptHandshake(subprotocol: String?) -> String?
    var isUpgraded: Bool { get }
    var isConnected: Bool { get }
    func receiveNow() -> WebSocketReceive
    /// Queues a message; false when the connection is closed.
    func send(_ payload: UnsafeRawBufferPointer, binary: Bool) -> Bool
    /// More output is queued than the send bound allows: the sender should wait for a drain.
    var isBacklogged: Bool { get }
    func close(code: UInt16, reason: String)
    /// Resume `task` when the wait is over (true), or after `timeout` seconds (false).
    func wait(_ task: PythonTask, for what: TaskWait, timeout: Double?)
    /// dispatchd.channels: messages published to `channel` reach this WebSocket from now on
    /// (until it closes). False when it is closed.
    func subscribe(_ channel: String) -> Bool
    func unsubscribe(_ channel: String)
}

/// dispatchd.channels in a worker: publishing, from handler code or a request (GIL held, on the
/// event loop's thread).
public protocol ChannelPublisher: AnyObject {
    /// Delivers the message to this worker's subscribers of `channel` and sends it to every
    /// other worker's (and beyond, with --channels).
    func publish(_ channel: String, payload: UnsafeRawBufferPointer, binary: Bool)
}

/// Timers for handlers that sleep (`dispatchd.sleep`), and the start of background tasks
/// (`dispatchd.spawn`). Called on the event loop's thread.
public protocol TaskScheduler: AnyObject {
    func sleep(_ task: PythonTask, seconds: Double)
    /// Resume `task` soon with `value`.
    func schedule(_ task: PythonTask, _ value: Bool)
}

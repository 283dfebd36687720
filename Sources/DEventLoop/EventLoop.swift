internal import CDEvent

/// A libevent event base: one per process, run on one thread. The only Swift code that talks
/// to libevent; callbacks reach Swift objects through their context pointer.
public final class EventLoop {
    /// The libevent the binary was built with (its headers), and the one it runs with.
    public static let builtVersion: String = LIBEVENT_VERSION
    public static var runningVersion: String { String(cString: event_get_version()) }

    let base: OpaquePointer

    public init() {
        guard let base = event_base_new() else {
            fatalError("Internal inconsistency: event_base_new failed")
        }
        self.base = base
    }

    /// The kernel interface libevent chose ("epoll" on Linux unless told otherwise).
    public var backend: String { String(cString: event_base_get_method(base)) }

    /// Runs until `stop()` is called or no event is left.
    public func run() {
        _ = event_base_dispatch(base)
    }

    /// Makes `run()` return after the current callback.
    public func stop() {
        _ = event_base_loopbreak(base)
    }

    deinit { event_base_free(base) }
}

/// Which conditions fired for a watcher.
public struct Readiness: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    public static let read = Readiness(rawValue: CDEvent_EV_READ())
    public static let write = Readiness(rawValue: CDEvent_EV_WRITE())
    public static let timeout = Readiness(rawValue: CDEvent_EV_TIMEOUT())
    public static let signal = Readiness(rawValue: CDEvent_EV_SIGNAL())
}

/// One libevent event: a descriptor's readability or writability, a timer (no descriptor) or
/// a signal. The callback runs on the loop's thread. Keep a reference while it is armed.
public final class Watcher {
    public enum Kind {
        case read(CInt)
        case write(CInt)
        case timer
        case signal(CInt)
    }

    // Only the loop's thread arms and disarms a watcher, several times a request: unchecked
    // (dynamic exclusivity checks cost about 800 instructions a request over these, the
    // connection's and the request context's state; callgrind).
    @exclusivity(unchecked) var event: OpaquePointer?
    let callback: (Readiness) -> Void
    let persist: Bool
    @exclusivity(unchecked) public private(set) var isArmed = false

    /// - Parameters:
    ///   - persist: stays armed after firing (I/O and signals); a timer fires once unless set.
    public init(loop: EventLoop, kind: Kind, persist: Bool, callback: @escaping (Readiness) -> Void) {
        self.callback = callback
        self.persist = persist
        var flags: Int16 = persist ? CDEvent_EV_PERSIST() : 0
        var fd: CInt = -1
        switch kind {
        case .read(let f):
            fd = f
            flags |= CDEvent_EV_READ()
        case .write(let f):
            fd = f
            flags |= CDEvent_EV_WRITE()
        case .timer: break
        case .signal(let s):
            fd = s
            flags |= CDEvent_EV_SIGNAL()
        }
        let trampoline: @convention(c) (CInt, Int16, UnsafeMutableRawPointer?) -> Void = { _, what, ctx in
            let watcher = Unmanaged<Watcher>.fromOpaque(ctx!).takeUnretainedValue()
            watcher.fire(Readiness(rawValue: what))
        }
        // The context is unretained: the owner keeps the watcher alive, and deinit removes the
        // event before the object goes.
        event = event_new(loop.base, fd, flags, trampoline, Unmanaged.passUnretained(self).toOpaque())
    }

    func fire(_ what: Readiness) {
        // A one-shot event is no longer pending once it fired; a persistent one stays armed
        // (its timeout, if any, restarts).
        if !persist { isArmed = false }
        callback(what)
    }

    /// The timeout it was last armed with (nil: none).
    @exclusivity(unchecked) public private(set) var armedTimeout: Double? = nil

    /// Arms the watcher, with an optional timeout in seconds (the callback then gets `.timeout`).
    public func arm(timeout: Double? = nil) {
        if let timeout {
            var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
            event_add(event, &tv)
        } else {
            event_add(event, nil)
        }
        isArmed = true
        armedTimeout = timeout
    }

    /// Arms the watcher unless it is armed already with `timeout`, leaving its deadline where it
    /// is. A persistent watcher's timer restarts by itself each time it fires (its descriptor
    /// became ready, or the time ran out), so for a read watcher the timeout runs from the last
    /// input; re-arming it would also move the deadline on output, and costs a timer-heap update.
    public func keepArmed(timeout: Double) {
        if isArmed && armedTimeout == timeout { return }
        arm(timeout: timeout)
    }

    public func disarm() {
        if isArmed {
            event_del(event)
            isArmed = false
        }
    }

    deinit {
        event_del(event)
        event_free(event)
    }
}

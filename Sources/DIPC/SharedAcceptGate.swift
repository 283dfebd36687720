/// Whether a worker that accepts from the shared listening sockets (--accept-mode shared) takes
/// connections now: the same limits the master's acceptor keeps in single mode. Pure: the
/// worker passes in its state.
public enum SharedAcceptGate {
    public enum Decision: Equatable, Sendable {
        /// Watch the listeners, and accept.
        case accept
        /// Stop watching until descriptors are freed (a connection, file or body closes): the
        /// connections wait in the kernel's backlog for another worker.
        case waitForRoom
        /// Stop watching until a request thread is free (--threads): a connection accepted now
        /// would wait inside this worker, unseen by the others and lost if it is killed.
        case waitForThread
        /// Leaving (a drain, a retirement): never again; the listeners are closed.
        case stop
    }

    /// - Parameters:
    ///   - leaving: the worker drains or retires (or the master marked it draining).
    ///   - room: connections its descriptors have room for (DescriptorBudget).
    ///   - threadFree: a request thread is free (always, without --threads: the loop accepts
    ///     only between requests).
    public static func decide(leaving: Bool, room: Int, threadFree: Bool) -> Decision {
        if leaving { return .stop }
        if room <= 0 { return .waitForRoom }
        if !threadFree { return .waitForThread }
        return .accept
    }
}

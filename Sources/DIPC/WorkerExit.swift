/// A leaving worker's way out. It exits only when released, after saying it has nothing left
/// (`ControlMessage.drained`, then `.release`): during a shutdown, connections still come back
/// to the master (a retiring worker's idle ones, handed over before it heard of the drain) and
/// go to a draining worker, so none may leave while another could still hand some back.
public enum WorkerExit: Equatable, Sendable {
    /// Busy, or not leaving.
    case running
    /// Said it has no connection left.
    case drained
    /// Told it may exit.
    case released
}

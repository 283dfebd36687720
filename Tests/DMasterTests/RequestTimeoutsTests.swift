import Testing

@testable import DMaster

/// The --timeout bookkeeping: when a slot's request is interrupted, when its worker is killed,
/// and that each happens once per request. Times in nanoseconds; a 2 s timeout, a 1 s grace.
@Suite struct RequestTimeoutsTests {
    typealias Action = RequestTimeouts.Action
    let second: UInt64 = 1_000_000_000

    /// Readings (slot, pid, busySince, now) in order through one bookkeeping: each one's action.
    func run(_ t: inout RequestTimeouts, _ readings: [(Int, Int32?, UInt64, UInt64)]) -> [Action?] {
        readings.map { t.check(slot: $0.0, pid: $0.1, busySince: $0.2, now: $0.3) }
    }

    @Test func secondsBecomeNanoseconds() {
        let t = RequestTimeouts(timeout: 30, grace: 0.5)
        #expect(t.timeout == 30 * second && t.grace == second / 2)
    }

    /// Idle slots, empty slots and requests under the timeout: nothing.
    @Test func nothingBeforeTheTimeout() {
        var t = RequestTimeouts(timeout: 2, grace: 1)
        let actions = run(
            &t,
            [
                (0, 100, 0, 50 * second),
                (1, nil, 10 * second, 50 * second),
                (2, 102, 10 * second, 12 * second - 1),
                // The worker read the clock after the master did.
                (3, 103, 10 * second + 5, 10 * second),
            ])
        #expect(actions == [nil, nil, nil, nil])
    }

    /// At the timeout the request is interrupted, once; at the grace after the interruption (not
    /// after the timeout) its worker is killed, once; its exit is the timeout's, once.
    @Test func interruptOnceThenKillOnce() {
        var t = RequestTimeouts(timeout: 2, grace: 1)
        let since = 10 * second
        let actions = run(
            &t,
            [
                (0, 100, since, 12 * second + 300),
                (0, 100, since, 12 * second + 400),
                (0, 100, since, 13 * second + 299),
                (0, 100, since, 13 * second + 300),
                (0, 100, since, 20 * second),
            ])
        #expect(
            actions == [
                .interrupt(slot: 0, pid: 100, busySince: since), nil, nil, .kill(slot: 0, pid: 100, busySince: since),
                nil,
            ])
        let first = t.exited(pid: 100)
        let again = t.exited(pid: 100)
        #expect(first && !again, "forgotten once reaped")
    }

    /// An interrupted request that returned is forgotten: the worker's next request gets its
    /// own timeout, even if the master never saw the worker idle in between.
    @Test func aNewRequestStartsAfresh() {
        var t = RequestTimeouts(timeout: 2, grace: 1)
        let next = 12 * second + 1
        let actions = run(
            &t,
            [
                (0, 100, 10 * second, 12 * second),
                (0, 100, next, 13 * second + 10),
                (0, 100, next, 15 * second),
                (0, 100, 0, 15 * second + 1),
                (0, 100, 20 * second, 22 * second),
            ])
        #expect(
            actions == [
                .interrupt(slot: 0, pid: 100, busySince: 10 * second), nil,
                .interrupt(slot: 0, pid: 100, busySince: next),
                nil, .interrupt(slot: 0, pid: 100, busySince: 20 * second),
            ])
        let killed = t.exited(pid: 100)
        #expect(!killed, "interrupted, never killed")
    }

    /// A slot whose worker was replaced (another pid, or none for now) starts afresh too, and
    /// an exit counts as a timeout kill only for the worker that was killed.
    @Test func aReplacedWorkerStartsAfresh() {
        var t = RequestTimeouts(timeout: 2, grace: 1)
        let actions = run(
            &t,
            [
                (0, 100, 10 * second, 12 * second),
                (0, 100, 10 * second, 13 * second),
                (0, nil, 10 * second, 13 * second + 1),
                // The new worker's slot was reset before it started; its first long request:
                (0, 101, 14 * second, 16 * second),
                // The same busySince under another pid (the master did not see the slot empty).
                (0, 102, 14 * second, 16 * second + 1),
            ])
        #expect(
            actions == [
                .interrupt(slot: 0, pid: 100, busySince: 10 * second), .kill(slot: 0, pid: 100, busySince: 10 * second),
                nil, .interrupt(slot: 0, pid: 101, busySince: 14 * second),
                .interrupt(slot: 0, pid: 102, busySince: 14 * second),
            ])
        let replacement = t.exited(pid: 101)
        let killed = t.exited(pid: 100)
        #expect(!replacement && killed)
    }

    /// Slots are independent.
    @Test func slotsAreIndependent() {
        var t = RequestTimeouts(timeout: 2, grace: 1)
        let actions = run(
            &t,
            [
                (0, 100, 10 * second, 12 * second),
                (1, 101, 10 * second, 12 * second),
                (1, 101, 0, 12 * second + 1),
                (0, 100, 10 * second, 13 * second),
            ])
        #expect(
            actions == [
                .interrupt(slot: 0, pid: 100, busySince: 10 * second),
                .interrupt(slot: 1, pid: 101, busySince: 10 * second),
                nil, .kill(slot: 0, pid: 100, busySince: 10 * second),
            ])
    }

    /// A grace of 0 kills at the check after the interruption (the master's next look, which
    /// gives the worker a moment to write its stacks), never in the same one.
    @Test func zeroGraceKillsAtTheNextCheck() {
        var t = RequestTimeouts(timeout: 1, grace: 0)
        let actions = run(&t, [(0, 100, second, 2 * second), (0, 100, second, 2 * second)])
        #expect(
            actions == [.interrupt(slot: 0, pid: 100, busySince: second), .kill(slot: 0, pid: 100, busySince: second)])
    }

    /// A tenth of the timeout between checks, from 10 ms to 250 ms.
    @Test func checkInterval() {
        #expect(RequestTimeouts(timeout: 1, grace: 5).interval == 0.1)
        #expect(RequestTimeouts(timeout: 30, grace: 5).interval == 0.25)
        #expect(RequestTimeouts(timeout: 0.05, grace: 5).interval == 0.01)
    }
}

/// systemd's socket activation variables.
@Suite struct SocketActivationTests {
    @Test func descriptorsForThisProcessOnly() {
        #expect(SocketActivation.descriptors(listenPID: "42", listenFDs: "2", ownPID: 42) == [3, 4])
        #expect(SocketActivation.descriptors(listenPID: "41", listenFDs: "2", ownPID: 42) == nil, "another process's")
        #expect(SocketActivation.descriptors(listenPID: nil, listenFDs: "1", ownPID: 42) == nil)
        #expect(SocketActivation.descriptors(listenPID: "42", listenFDs: "0", ownPID: 42) == nil)
        #expect(SocketActivation.descriptors(listenPID: "42", listenFDs: "x", ownPID: 42) == nil)
    }
}

import Testing

@testable import DMaster

@Suite struct WorkerPoolTests {
    /// A worker with descriptors to spare: only the window limits it.
    let unlimited: (Int) -> UInt64 = { _ in .max }

    func readyPool(_ n: Int, window: Int = 4) -> WorkerPool {
        var pool = WorkerPool(workers: n, window: window, stuckAfter: 50)
        for i in 0..<n {
            pool.spawned(slot: i, pid: Int32(100 + i), now: 0)
            pool.ready(slot: i)
        }
        return pool
    }

    /// Round-robin among ready workers.
    @Test func roundRobin() {
        var pool = readyPool(3)
        var order: [Int] = []
        for _ in 0..<6 {
            let w = pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000)!
            pool.handedOff(slot: w)
            order.append(w)
        }
        #expect(order == [0, 1, 2, 0, 1, 2])
        // candidate() tells without moving the cursor.
        #expect(pool.candidate(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000) == 0)
        #expect(pool.candidate(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000) == 0)
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000) == 0)
        #expect(pool.candidate(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000) == 1)
    }

    /// A worker that has not taken `window` connections off its channel gets no more.
    @Test func windowLimitsConnectionsInFlight() {
        var pool = readyPool(2, window: 2)
        var received: [UInt64] = [0, 0]
        for _ in 0..<4 {
            let w = pool.nextWorker(
                received: { received[$0] }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000)!
            pool.handedOff(slot: w)
        }
        #expect(
            pool.nextWorker(received: { received[$0] }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000)
                == nil)
        received[1] = 1
        #expect(
            pool.nextWorker(received: { received[$0] }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000)
                == 1)
    }

    /// A worker gets no more than its descriptors allow: its room is the smaller of the window
    /// and its announced admission limit minus what it was sent; at its limit it is skipped
    /// (0 before it has announced anything), and it gets connections again once it announces
    /// more (connections closed).
    @Test func descriptorsLimitRoom() {
        var pool = readyPool(2, window: 8)
        var received: [UInt64] = [0, 0]
        var limit: [UInt64] = [3, 100]
        #expect(pool.room(slot: 0, received: 0, admissionLimit: 0) == 0)
        #expect(pool.room(slot: 0, received: 0, admissionLimit: 3) == 3)
        #expect(pool.room(slot: 1, received: 0, admissionLimit: 100) == 8)
        pool.handedOff(slot: 0, count: 2)
        #expect(pool.room(slot: 0, received: 0, admissionLimit: 3) == 1)
        // Taking them off the channel frees no descriptor: the worker's limit stays 3.
        received[0] = 2
        #expect(pool.room(slot: 0, received: received[0], admissionLimit: limit[0]) == 1)
        pool.handedOff(slot: 0, count: 1)
        #expect(pool.room(slot: 0, received: received[0], admissionLimit: limit[0]) == 0)
        for _ in 0..<3 {
            #expect(
                pool.nextWorker(
                    received: { received[$0] }, admissionLimit: { limit[$0] }, busySince: { _ in 0 }, now: 1000) == 1)
        }
        // A limit below what was sent (the worker found its descriptors taken) is no room, not less.
        #expect(pool.room(slot: 0, received: 3, admissionLimit: 1) == 0)
        // Two of its connections closed.
        limit[0] = 5
        #expect(
            pool.candidate(received: { received[$0] }, admissionLimit: { limit[$0] }, busySince: { _ in 0 }, now: 1000)
                == 0)
        #expect(pool.room(slot: 0, received: 3, admissionLimit: limit[0]) == 2)
        // The window still applies to a worker with descriptors to spare.
        pool.handedOff(slot: 1, count: 8)
        #expect(pool.room(slot: 1, received: 0, admissionLimit: 100) == 0)
        #expect(pool.room(slot: 1, received: 5, admissionLimit: 100) == 5)
    }

    /// A worker inside the application for longer than stuckAfter is skipped.
    @Test func skipsStuckWorker() {
        var pool = readyPool(2)
        let busy: (Int) -> UInt64 = { $0 == 0 ? 100 : 0 }
        for _ in 0..<3 {
            #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: busy, now: 1000) == 1)
        }
        // Busy only briefly: still eligible.
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: busy, now: 120) == 0)
    }

    @Test func startingWorkersGetNothing() {
        var pool = WorkerPool(workers: 2)
        pool.spawned(slot: 0, pid: 1, now: 0)
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1) == nil)
        pool.ready(slot: 0)
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1) == 0)
    }

    /// An app that cannot load stops the server with the worker's status.
    @Test func appLoadFailureIsFatal() {
        var pool = WorkerPool(workers: 2)
        pool.spawned(slot: 0, pid: 7, now: 0)
        #expect(
            pool.exited(pid: 7, exitStatus: 4, now: 10) == .fatal(reason: "the application failed to load", status: 4))
    }

    /// A worker that ran a long time is respawned at once; crashes at start-up back off
    /// exponentially and end the server after maxFailures.
    @Test func respawnBackoffAndCrashLoop() {
        var pool = readyPool(1)
        let second: UInt64 = 1_000_000_000
        #expect(pool.exited(pid: 100, exitStatus: nil, now: 60 * second) == .respawn(slot: 0, delay: 0))
        var now = 61 * second
        var delays: [UInt64] = []
        var pid: Int32 = 200
        var last = WorkerPool.ExitAction.none
        for _ in 0..<pool.maxFailures {
            pool.spawned(slot: 0, pid: pid, now: now)
            last = pool.exited(pid: pid, exitStatus: 1, now: now + 1000)
            if case .respawn(_, let d) = last { delays.append(d) }
            pid += 1
            now += 20 * second
        }
        #expect(delays.prefix(3) == [100_000_000, 200_000_000, 400_000_000])
        #expect(last == .fatal(reason: "worker 0 failed 8 times in a row at start-up", status: 1))
    }

    @Test func shutdownDrainsThenCompletes() {
        var pool = readyPool(2)
        #expect(pool.beginShutdown() == [0, 1])
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1) == nil)
        #expect(pool.exited(pid: 100, exitStatus: 0, now: 5) == .none)
        #expect(pool.exited(pid: 101, exitStatus: 0, now: 5) == .shutdownComplete)
    }
}

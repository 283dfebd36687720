import Testing

@testable import DMaster

@Suite struct WorkerPoolTests {
    /// A worker with descriptors to spare: only the window limits it.
    let unlimited: (Int) -> UInt64 = { _ in .max }

    func readyPool(_ n: Int, window: Int = 4, surge: Int = 1) -> WorkerPool {
        var pool = WorkerPool(workers: n, surge: surge, window: window, stuckAfter: 50)
        #expect(pool.start() == (0..<n).map { .spawn(slot: $0, delay: 0) })
        for i in 0..<n {
            pool.spawned(slot: i, pid: Int32(100 + i), now: 0)
            #expect(pool.ready(slot: i) == [])
        }
        return pool
    }

    /// `#expect` cannot take a mutating call: the events are checked through this.
    func check<T: Equatable>(_ value: T, _ expected: T, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(value == expected, sourceLocation: sourceLocation)
    }

    func next(_ pool: inout WorkerPool) -> Int? {
        pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000)
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

    /// The worker with the fewest connections gets the next: those it holds (its gauge) and
    /// those handed to it still in its channel; round-robin among equals. One that fell behind
    /// (here worker 0, left with 1 while the others hold 4) gets every connection until it has
    /// caught up; one without room is skipped however few it holds.
    @Test func fewestConnectionsFirst() {
        var pool = readyPool(3, window: 8)
        var held: [UInt64] = [1, 4, 4]
        let received: [UInt64] = [0, 0, 0]
        var order: [Int] = []
        for _ in 0..<9 {
            let w = pool.nextWorker(
                received: { received[$0] }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000,
                held: { held[$0] })!
            pool.handedOff(slot: w)  // still in its channel: counts as held
            order.append(w)
        }
        #expect(order == [0, 0, 0, 1, 2, 0, 1, 2, 0])
        // Worker 1 closed three of its connections.
        held[1] = 1
        let w = pool.nextWorker(
            received: { received[$0] }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000, held: { held[$0] })
        #expect(w == 1)
        // The fewest, but no room (8 in flight): the next fewest instead.
        pool.handedOff(slot: 1, count: 6)
        #expect(pool.room(slot: 1, received: 0, admissionLimit: .max) == 0)
        held[1] = 0
        let v = pool.nextWorker(
            received: { received[$0] }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1000, held: { held[$0] })
        #expect(v == 2)
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
        // Two of its connections closed (it holds 1 now; worker 1 holds 3).
        limit[0] = 5
        #expect(
            pool.candidate(
                received: { received[$0] }, admissionLimit: { limit[$0] }, busySince: { _ in 0 }, now: 1000,
                held: { $0 == 0 ? 1 : 3 }) == 0)
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
        _ = pool.start()
        pool.spawned(slot: 0, pid: 1, now: 0)
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1) == nil)
        check(pool.ready(slot: 0), [])
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1) == 0)
    }

    /// An app that cannot load stops the server with the worker's status, at the first start;
    /// later (a worker of that position has served) it is retried with a back-off instead.
    @Test func appLoadFailureIsFatalOnlyAtFirstStart() {
        var pool = WorkerPool(workers: 2)
        _ = pool.start()
        pool.spawned(slot: 0, pid: 7, now: 0)
        check(
            pool.exited(pid: 7, exitStatus: 4, now: 10), [.fatal(reason: "the application failed to load", status: 4)])

        var served = readyPool(2)
        check(served.exited(pid: 100, exitStatus: nil, now: 60_000_000_000), [.spawn(slot: 0, delay: 0)])
        served.spawned(slot: 0, pid: 7, now: 61_000_000_000)
        check(served.exited(pid: 7, exitStatus: 4, now: 61_100_000_000), [.spawn(slot: 0, delay: 100_000_000)])
    }

    /// A worker that ran a long time is respawned at once; crashes at start-up back off
    /// exponentially and end the server after maxFailures.
    @Test func respawnBackoffAndCrashLoop() {
        var pool = readyPool(1)
        let second: UInt64 = 1_000_000_000
        check(pool.exited(pid: 100, exitStatus: nil, now: 60 * second), [.spawn(slot: 0, delay: 0)])
        var now = 61 * second
        var delays: [UInt64] = []
        var pid: Int32 = 200
        var last: [WorkerPool.Action] = []
        for _ in 0..<pool.maxFailures {
            pool.spawned(slot: 0, pid: pid, now: now)
            last = pool.exited(pid: pid, exitStatus: 1, now: now + 1000)
            if case .spawn(_, let d)? = last.first { delays.append(d) }
            pid += 1
            now += 20 * second
        }
        #expect(delays.prefix(3) == [100_000_000, 200_000_000, 400_000_000])
        #expect(last == [.fatal(reason: "worker 0 failed 8 times in a row at start-up", status: 1)])
    }

    @Test func shutdownDrainsThenCompletes() {
        var pool = readyPool(2)
        #expect(pool.beginShutdown() == [0, 1])
        #expect(pool.nextWorker(received: { _ in 0 }, admissionLimit: unlimited, busySince: { _ in 0 }, now: 1) == nil)
        check(pool.exited(pid: 100, exitStatus: 0, now: 5), [])
        check(pool.exited(pid: 101, exitStatus: 0, now: 5), [.shutdownComplete])
    }

    // MARK: - Replacing workers

    /// The one way to replace a worker: its replacement starts in a free slot while it serves
    /// on; once the replacement is ready, the old one retires (no more connections) and the new
    /// one serves its position; the old one's exit starts nothing.
    @Test func replacementStartsBesideAndTakesOver() {
        var pool = readyPool(2)
        check(pool.replace(slot: 0), [.spawn(slot: 2, delay: 0)])
        #expect(pool.position(2) == 0 && pool.replacing(2) == 0)
        check(pool.replace(slot: 0), [])  // a second request changes nothing
        pool.spawned(slot: 2, pid: 300, now: 10)
        var served = Set<Int>()
        for _ in 0..<4 { if let w = next(&pool) { served.insert(w) } }
        #expect(served == [0, 1], "the old worker serves until its replacement is ready")
        check(pool.ready(slot: 2), [.retire(slot: 0)])
        #expect(pool.state(0) == .retiring(pid: 100))
        served = []
        for _ in 0..<4 { if let w = next(&pool) { served.insert(w) } }
        #expect(served == [1, 2], "the retiring worker gets nothing")
        check(pool.exited(pid: 100, exitStatus: 0, now: 20), [])
        #expect(pool.state(0) == .empty)
    }

    /// Replacements asked for while no slot is free wait for one.
    @Test func replacementsWaitForAFreeSlot() {
        var pool = readyPool(2)
        check(pool.replace(slot: 0), [.spawn(slot: 2, delay: 0)])
        check(pool.replace(slot: 1), [])
        pool.spawned(slot: 2, pid: 300, now: 10)
        check(pool.ready(slot: 2), [.retire(slot: 0)])
        check(pool.exited(pid: 100, exitStatus: 0, now: 20), [.spawn(slot: 0, delay: 0)])
        #expect(pool.position(0) == 1 && pool.replacing(0) == 1)
    }

    /// A rolling reload replaces every position, a batch at a time, each old worker retiring
    /// once its replacement is ready; it reports how many it replaced.
    @Test func rollingReload() {
        var pool = readyPool(2)
        check(pool.beginReload(), [.spawn(slot: 2, delay: 0)])
        pool.spawned(slot: 2, pid: 300, now: 10)
        // The next one needs a free slot: when the retiring one has exited.
        check(pool.ready(slot: 2), [.retire(slot: 0)])
        check(pool.exited(pid: 100, exitStatus: 0, now: 20), [.spawn(slot: 0, delay: 0)])
        #expect(pool.position(0) == 1)
        pool.spawned(slot: 0, pid: 301, now: 30)
        check(pool.ready(slot: 0), [.retire(slot: 1), .reloadFinished(replaced: 2)])
        #expect(!pool.isReloading)

        // With a batch of 2 (two surge slots), both start at once.
        var wide = readyPool(2, surge: 2)
        check(wide.beginReload(), [.spawn(slot: 2, delay: 0), .spawn(slot: 3, delay: 0)])
    }

    /// New code that fails to load abandons the reload: the old workers keep serving, nothing
    /// else is replaced, and the next reload tries again.
    @Test func reloadAbandonedWhenTheNewCodeFails() {
        var pool = readyPool(2)
        check(pool.beginReload(), [.spawn(slot: 2, delay: 0)])
        pool.spawned(slot: 2, pid: 300, now: 10)
        check(pool.exited(pid: 300, exitStatus: 4, now: 20), [.reloadAbandoned(position: 0, status: 4)])
        #expect(!pool.isReloading)
        #expect(pool.isReady(0) && pool.isReady(1))
        check(pool.beginReload(), [.spawn(slot: 2, delay: 0)])
    }

    /// --preload: a worker whose zygote exited before forking it fails as one that exited while
    /// starting: fatal at the first start (the zygote could not import the app), an abandoned
    /// reload during one, a back-off otherwise; a slot that is not waiting for a process is
    /// left alone.
    @Test func workerThatNeverGotAProcessFailsLikeOneThatExitedStarting() {
        var first = WorkerPool(workers: 2)
        _ = first.start()
        check(
            first.failedToStart(slot: 0, exitStatus: 4, now: 10),
            [.fatal(reason: "the application failed to load", status: 4)])

        var reloading = readyPool(2)
        check(reloading.beginReload(), [.spawn(slot: 2, delay: 0)])
        check(reloading.failedToStart(slot: 2, exitStatus: 4, now: 20), [.reloadAbandoned(position: 0, status: 4)])
        #expect(!reloading.isReloading && reloading.isReady(0) && reloading.isReady(1))
        #expect(reloading.pid(2) == nil)

        var served = readyPool(2)
        check(served.exited(pid: 100, exitStatus: nil, now: 60_000_000_000), [.spawn(slot: 0, delay: 0)])
        check(
            served.failedToStart(slot: 0, exitStatus: nil, now: 60_000_000_001), [.spawn(slot: 0, delay: 100_000_000)])
        check(served.failedToStart(slot: 1, exitStatus: nil, now: 60_000_000_002), [])
        #expect(served.isReady(1))
    }

    /// Outside a reload, a replacement that fails to start leaves the old worker serving, and
    /// another attempt follows after a back-off.
    @Test func failedReplacementIsRetried() {
        var pool = readyPool(2)
        check(pool.replace(slot: 1), [.spawn(slot: 2, delay: 0)])
        pool.spawned(slot: 2, pid: 300, now: 10)
        check(
            pool.exited(pid: 300, exitStatus: 4, now: 20),
            [.replacementFailed(position: 1, status: 4), .spawn(slot: 2, delay: 100_000_000)])
        #expect(pool.isReady(1) && pool.replacing(2) == 1)
    }

    /// A worker that dies while its replacement starts is not restarted: the replacement takes
    /// its position over (nothing to retire).
    @Test func crashDuringReplacement() {
        var pool = readyPool(2)
        check(pool.replace(slot: 0), [.spawn(slot: 2, delay: 0)])
        pool.spawned(slot: 2, pid: 300, now: 10)
        check(pool.exited(pid: 100, exitStatus: nil, now: 60_000_000_000), [])
        check(pool.ready(slot: 2), [])
        #expect(pool.isReady(2) && pool.position(2) == 0)
    }

    /// A shutdown during a reload: the reload stops, retiring workers drain with the rest (told
    /// so too: they answer their idle connections instead of handing them over).
    @Test func shutdownDuringReload() {
        var pool = readyPool(2)
        _ = pool.beginReload()
        pool.spawned(slot: 2, pid: 300, now: 10)
        check(pool.ready(slot: 2), [.retire(slot: 0)])
        #expect(pool.beginShutdown() == [0, 1, 2])
        #expect((0..<3).allSatisfy(pool.isDraining))
        #expect(!pool.isReloading)
        check(pool.exited(pid: 100, exitStatus: 0, now: 20), [])
        check(pool.exited(pid: 101, exitStatus: 0, now: 20), [])
        check(pool.exited(pid: 300, exitStatus: 0, now: 20), [.shutdownComplete])
    }

    /// During a shutdown no worker exits while another could still hand connections back: all
    /// are released together once every live one has drained; one that is handed connections
    /// after saying it drained must say so again; a released one takes no more.
    @Test func shutdownReleasesWorkersOnlyWhenAllHaveDrained() {
        var pool = readyPool(2)
        _ = pool.beginReload()
        pool.spawned(slot: 2, pid: 300, now: 10)
        check(pool.ready(slot: 2), [.retire(slot: 0)])
        #expect(pool.beginShutdown() == [0, 1, 2])
        check(pool.drained(slot: 1), [])
        check(pool.drained(slot: 2), [])
        // The retiring worker's hand-back goes to slot 1, which is busy again.
        #expect(pool.takesConnectionsWhileStopping(1))
        pool.handedOff(slot: 1)
        check(pool.drained(slot: 0), [])
        check(pool.drained(slot: 1), [.release(slot: 0), .release(slot: 1), .release(slot: 2)])
        #expect(!(0..<3).contains(where: pool.takesConnectionsWhileStopping))
        check(pool.drained(slot: 1), [])
        check(pool.exited(pid: 100, exitStatus: 0, now: 20), [])
        check(pool.exited(pid: 101, exitStatus: 0, now: 20), [])
        check(pool.exited(pid: 300, exitStatus: 0, now: 20), [.shutdownComplete])
    }

    /// A worker that exits (a crash) counts as drained for the others' release; outside a
    /// shutdown a drained worker (a retired one) is released at once.
    @Test func releaseAfterAnExitAndOutsideAShutdown() {
        var pool = readyPool(2)
        check(pool.replace(slot: 0), [.spawn(slot: 2, delay: 0)])
        pool.spawned(slot: 2, pid: 300, now: 10)
        check(pool.ready(slot: 2), [.retire(slot: 0)])
        check(pool.drained(slot: 0), [.release(slot: 0)])
        check(pool.exited(pid: 100, exitStatus: 0, now: 20), [])
        _ = pool.beginShutdown()
        check(pool.drained(slot: 2), [])
        check(pool.exited(pid: 101, exitStatus: nil, now: 30), [.release(slot: 2)])
        check(pool.exited(pid: 300, exitStatus: 0, now: 40), [.shutdownComplete])
    }

    /// At the graceful timeout the drained workers are released; the busy ones are not.
    @Test func gracefulTimeoutReleasesTheDrained() {
        var pool = readyPool(3)
        _ = pool.beginShutdown()
        check(pool.drained(slot: 0), [])
        check(pool.drained(slot: 2), [])
        check(pool.releaseDrained(), [.release(slot: 0), .release(slot: 2)])
        #expect(pool.isReleased(0) && !pool.isReleased(1) && pool.isReleased(2))
    }

    /// Recycling goes on during a reload without stalling it: a position that recycling is
    /// replacing with a worker started since the reload began counts as reloaded; one whose
    /// replacement started before is replaced again once that one is ready.
    @Test func reloadFinishesWhileRecycling() {
        var pool = readyPool(2)
        check(pool.replace(slot: 1), [.spawn(slot: 2, delay: 0)])  // recycling, before the reload
        pool.spawned(slot: 2, pid: 300, now: 5)
        check(pool.beginReload(), [])  // no free slot
        check(pool.ready(slot: 2), [.retire(slot: 1)])  // old code: position 1 is still due
        check(pool.exited(pid: 101, exitStatus: 0, now: 20), [.spawn(slot: 1, delay: 0)])
        pool.spawned(slot: 1, pid: 400, now: 21)  // the reload's, for position 0
        check(pool.replace(slot: 2), [])  // recycling again: queued (no free slot)
        check(pool.ready(slot: 1), [.retire(slot: 0)])
        // Position 1 (slot 2) is replaced by recycling, with a worker spawned now: it counts.
        check(pool.exited(pid: 100, exitStatus: 0, now: 30), [.spawn(slot: 0, delay: 0), .reloadFinished(replaced: 2)])
        #expect(!pool.isReloading)
    }
}

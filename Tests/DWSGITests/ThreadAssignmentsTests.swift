import DWSGI
import Testing

/// Which request thread runs what (--threads): free threads first, then arrival order; a thread
/// freed with requests waiting goes straight to the oldest; "no thread free since" for the
/// master.
@Suite struct ThreadAssignmentsTests {
    @Test func requestsTakeFreeThreadsThenWaitInOrder() {
        var a = ThreadAssignments<String>(threads: 2)
        #expect(a.allBusySince == 0)
        let first = a.request("a", now: 10)
        let second = a.request("b", now: 20)
        #expect(first != nil && second != nil && first != second)
        #expect(a.allBusySince == 20, "no thread free since the second was taken")
        #expect(a.taken == 2)
        #expect(a.request("c", now: 30) == nil)
        #expect(a.request("d", now: 40) == nil)
        #expect(a.queued == 2)
        // The freed thread goes to the oldest waiting request; none is free meanwhile.
        #expect(a.release(first!) == "c")
        #expect(a.allBusySince == 20)
        #expect(a.release(second!) == "d")
        #expect(a.queued == 0)
        #expect(a.release(first!) == nil)
        #expect(a.allBusySince == 0, "a thread is free")
        #expect(a.release(second!) == nil)
        #expect(a.taken == 0)
        // The thread freed last is the one taken next (the warmest).
        #expect(a.request("e", now: 50) == second)
        #expect(a.allBusySince == 0)
        #expect(a.request("f", now: 60) == first)
        #expect(a.allBusySince == 60)
    }

    /// A long queue keeps its order while it is worked through and refilled.
    @Test func longQueueKeepsArrivalOrder() {
        var a = ThreadAssignments<Int>(threads: 1)
        #expect(a.request(-1, now: 1) == 0)
        var next = 0
        var served: [Int] = []
        for round in 0..<10 {
            for _ in 0..<100 {
                #expect(a.request(next, now: UInt64(round + 2)) == nil)
                next += 1
            }
            for _ in 0..<70 { served.append(a.release(0)!) }
        }
        while let n = a.release(0) { served.append(n) }
        #expect(served == Array(0..<1000))
        #expect(a.allBusySince == 0)
    }
}

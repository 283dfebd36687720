import DIPC
import Testing

/// --accept-mode shared: when a worker accepts from the shared listening sockets itself.
@Suite struct SharedAcceptGateTests {
    /// With room (one connection's is enough) and a free thread.
    @Test func acceptsWithRoom() {
        #expect(SharedAcceptGate.decide(leaving: false, room: 1, threadFree: true) == .accept)
        #expect(SharedAcceptGate.decide(leaving: false, room: 100_000, threadFree: true) == .accept)
    }

    /// Out of descriptors: it stops watching (the backlog keeps the connections for others).
    @Test func noRoomWaits() {
        #expect(SharedAcceptGate.decide(leaving: false, room: 0, threadFree: true) == .waitForRoom)
        #expect(SharedAcceptGate.decide(leaving: false, room: -3, threadFree: true) == .waitForRoom)
        #expect(SharedAcceptGate.decide(leaving: false, room: 0, threadFree: false) == .waitForRoom)
    }

    /// Every request thread busy: nothing is taken to wait inside the worker.
    @Test func busyThreadsWait() {
        #expect(SharedAcceptGate.decide(leaving: false, room: 10, threadFree: false) == .waitForThread)
    }

    /// A draining or retiring worker stops at once, whatever its room.
    @Test func leavingStops() {
        #expect(SharedAcceptGate.decide(leaving: true, room: 10, threadFree: true) == .stop)
        #expect(SharedAcceptGate.decide(leaving: true, room: 0, threadFree: false) == .stop)
    }
}

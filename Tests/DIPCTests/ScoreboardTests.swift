import DIPC
import DPosix
import Testing

/// The request line a worker publishes for --timeout: what the master reads back, and when it
/// refuses a line that may be another request's.
@Suite struct ScoreboardTests {
    func publish(_ board: Scoreboard, _ slot: Int, _ method: String, _ target: String) {
        Array(method.utf8).withUnsafeBytes { m in
            Array(target.utf8).withUnsafeBytes { t in board.setRequest(slot, method: m, target: t) }
        }
    }

    @Test func requestLineRoundTrips() throws {
        let board = try Scoreboard(slots: 3)
        publish(board, 1, "GET", "/spin?x=1")
        board.setBusySince(1, 42)
        #expect(board.request(1, busySince: 42) == "GET /spin?x=1")
        // Whole words, and a line that ends on a word's end.
        publish(board, 2, "POST", "/abc")
        board.setBusySince(2, 7)
        #expect(board.request(2, busySince: 7) == "POST /abc")
        #expect(board.request(0, busySince: 0) == nil, "not in a request")
        // A shorter line after a longer one leaves nothing of the longer.
        board.setBusySince(1, 0)
        publish(board, 1, "GET", "/")
        board.setBusySince(1, 43)
        #expect(board.request(1, busySince: 43) == "GET /")
    }

    /// --threads: each slot has a row per request thread and one for the loop's thread, apart
    /// from the slot's own; a worker mapping the board with the same thread count finds the
    /// same rows, and resetting a slot clears its threads' rows.
    @Test func threadRows() throws {
        let board = try Scoreboard(slots: 2, threads: 4)
        let worker = try Scoreboard(mapping: board.memory.fd, threads: 4)
        #expect(worker.slots == 2)
        let row = worker.thread(2, of: 1)
        Array("GET".utf8).withUnsafeBytes { m in
            Array("/t".utf8).withUnsafeBytes { t in worker.setRequest(row, method: m, target: t) }
        }
        worker.setBusySince(row, 5)
        worker.setBusySince(1, 9)
        worker.setBusySince(worker.thread(4, of: 1), 11)
        #expect(board.busySince(board.thread(2, of: 1)) == 5)
        #expect(board.request(board.thread(2, of: 1), busySince: 5) == "GET /t")
        #expect(board.busySince(1) == 9 && board.busySince(0) == 0)
        #expect(board.busySince(board.thread(4, of: 1)) == 11, "the loop's row")
        #expect((0..<4).allSatisfy { board.busySince(board.thread($0, of: 0)) == 0 })
        board.reset(1)
        #expect(board.busySince(board.thread(2, of: 1)) == 0 && board.busySince(board.thread(4, of: 1)) == 0)
    }

    /// Lines longer than the capacity are cut there, and say so.
    @Test func longLinesAreTruncated() throws {
        let board = try Scoreboard(slots: 1)
        let target = "/" + String(repeating: "a", count: 300)
        publish(board, 0, "GET", target)
        board.setBusySince(0, 1)
        let line = try #require(board.request(0, busySince: 1))
        #expect(line == String(("GET " + target).prefix(Scoreboard.requestCapacity)) + "...")
        board.setBusySince(0, 0)
        let exact = "/" + String(repeating: "b", count: Scoreboard.requestCapacity - 5)
        publish(board, 0, "GET", exact)
        board.setBusySince(0, 2)
        #expect(board.request(0, busySince: 2) == "GET " + exact)
    }

    /// The master reads busySince, then the line: if busySince is no longer what it read, the
    /// worker has moved on and the line may be the next request's, so none is given.
    @Test func aLineOfAnotherRequestIsRefused() throws {
        let board = try Scoreboard(slots: 1)
        publish(board, 0, "GET", "/first")
        board.setBusySince(0, 10)
        board.setBusySince(0, 0)
        publish(board, 0, "GET", "/second")
        #expect(board.request(0, busySince: 10) == nil)
        board.setBusySince(0, 11)
        #expect(board.request(0, busySince: 10) == nil)
        #expect(board.request(0, busySince: 11) == "GET /second")
    }

    /// A new worker's slot has no line.
    @Test func resetClearsTheLine() throws {
        let board = try Scoreboard(slots: 1)
        publish(board, 0, "GET", "/x")
        board.reset(0)
        board.setBusySince(0, 5)
        #expect(board.request(0, busySince: 5) == "")
    }

    /// Connections a worker accepted itself (--accept-mode shared) are counted per slot, added
    /// up with the other counts, and cleared with the slot.
    @Test func acceptedConnections() throws {
        let board = try Scoreboard(slots: 2, threads: 2)
        board.addAccepted(0, 3)
        board.addAccepted(1, 1)
        board.addAccepted(0, 2)
        #expect(board.counts(0).accepted == 5)
        var total = board.counts(0)
        total.add(board.counts(1))
        #expect(total.accepted == 6)
        board.reset(0)
        #expect(board.counts(0).accepted == 0)
        #expect(board.counts(1).accepted == 1)
    }

    /// A new worker's slot starts from nothing: the channel counts, the subscriptions gauge and
    /// the connections held (the master's counts of an exited worker are kept aside before its
    /// slot is reset; what stayed would be counted twice, and the gauges would be off).
    @Test func resetClearsChannelCountsAndGauges() throws {
        let board = try Scoreboard(slots: 2)
        for slot in 0..<2 {
            board.addChannelMessages(slot, published: 3, delivered: 40, overflowed: 1)
            board.addSubscriptions(slot, 7)
            board.setHeld(slot, 12)
        }
        board.reset(0)
        let cleared = board.counts(0)
        #expect(cleared.channelPublished == 0 && cleared.channelDelivered == 0 && cleared.channelOverflowed == 0)
        #expect(board.subscriptions(0) == 0)
        #expect(board.held(0) == 0)
        let kept = board.counts(1)
        #expect(kept.channelPublished == 3 && kept.channelDelivered == 40 && kept.channelOverflowed == 1)
        #expect(board.subscriptions(1) == 7 && board.held(1) == 12)
    }
}

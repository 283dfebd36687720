internal import DHTTP1
internal import DPosix

/// A request's body, received on the event loop before anything answers the request, then
/// read by the application (`wsgi.input`) without ever waiting on the client. While it is small
/// and the worker's memory budget allows, it stays in the connection's input buffer right after
/// its head (a chunked body decoded there in place, once, as it arrives); otherwise it is
/// decoded into an unnamed temporary file. The budget it took goes back when it goes.
final class RequestBody {
    enum Framing: Equatable {
        case length(Int)
        case chunked
    }

    /// Where the decoded bytes are.
    enum Storage {
        /// Not chosen yet (the first `receive` chooses).
        case undecided
        /// `input[start ..< start + decoded]`.
        case memory
        case spool(BodySpool)
    }

    enum Progress {
        case needMore
        /// Every byte is here; the request's bytes in the input end at `end`.
        case complete
        /// The body cannot be taken: answer `error` (with `fields`) and close. `log`: why.
        case refused(HTTPError, fields: String, log: String)
    }

    let framing: Framing
    /// Offset in the input buffer where the body begins (right after its head).
    let start: Int
    let budget: BodyBudget
    /// The largest body accepted (for a chunked body, checked as it arrives).
    let limit: Int?
    /// Larger bodies go to a temporary file.
    let bufferSize: Int

    private(set) var storage = Storage.undecided
    /// Decoded body bytes received so far.
    private(set) var decoded = 0
    /// Offset in the input of the first byte not yet taken (raw, still encoded).
    var scan: Int
    var decoder = ChunkedDecoder()
    /// Budget taken, given back when the body goes.
    var memoryHeld = 0
    var spoolHeld = 0
    /// The application's read position (in memory).
    var readOffset = 0

    init(framing: Framing, start: Int, budget: BodyBudget, limit: Int?, bufferSize: Int) {
        self.framing = framing
        self.start = start
        self.scan = start
        self.budget = budget
        self.limit = limit
        self.bufferSize = bufferSize
    }

    deinit {
        budget.giveMemory(memoryHeld)
        budget.giveSpool(spoolHeld)
    }

    /// Offset in the input just past the request's bytes, once complete: what follows is the
    /// next (pipelined) request.
    var end: Int {
        if case .memory = storage { return start + decoded }
        return start
    }

    var isSpooled: Bool {
        if case .spool = storage { return true }
        return false
    }

    // MARK: - Receiving

    /// Takes in what has arrived in `input`. Bytes moved to a temporary file, and chunked
    /// framing, are removed from the input, so the body in memory is contiguous and the next
    /// request follows it.
    func receive(_ input: InputBuffer) -> Progress {
        if case .undecided = storage {
            if let refusal = prepare(input) { return refusal }
        }
        switch framing {
        case .length(let length): return receiveLength(length, input)
        case .chunked: return receiveChunked(input)
        }
    }

    /// Chooses where the body goes, before any of it is taken (and before a client that asked
    /// is told to send it): memory for one that fits (a chunked one grows there while it can),
    /// a file otherwise. A refusal when neither can take it.
    func prepare(_ input: InputBuffer) -> Progress? {
        guard case .length(let length) = framing else {
            storage = .memory
            return nil
        }
        if length <= bufferSize && budget.takeMemory(length) {
            memoryHeld = length
            storage = .memory
            input.reserve(start + length)
            return nil
        }
        return openSpool(reserving: length)
    }

    func receiveLength(_ length: Int, _ input: InputBuffer) -> Progress {
        switch storage {
        case .memory:
            decoded = min(length, input.count - start)
            return decoded == length ? .complete : .needMore
        case .spool(let spool):
            let n = min(length - decoded, input.count - start)
            do {
                try spool.append(input.bytes(start..<(start + n)))
            } catch {
                return spoolFailed(.failed(error))
            }
            input.removeRange(start..<(start + n))
            decoded += n
            return decoded == length ? .complete : .needMore
        case .undecided:
            preconditionFailure("Internal inconsistency: body storage not chosen")
        }
    }

    func receiveChunked(_ input: InputBuffer) -> Progress {
        defer { compact(input) }
        while scan < input.count {
            switch decoder.step(input.bytes(scan..<input.count)) {
            case .data(let skip, let count):
                if let limit, decoded + count > limit {
                    return .refused(
                        HTTPError(413, "request body too large"), fields: "",
                        log: "a chunked request body crossed the limit of \(limit) bytes")
                }
                if let refusal = makeRoom(for: count, input) { return refusal }
                let data = scan + skip
                switch storage {
                case .memory:
                    // Decoded in place: the data moves down over the chunk framing before it.
                    input.move(data..<(data + count), to: start + decoded)
                case .spool(let spool):
                    do { try spool.append(input.bytes(data..<(data + count))) } catch {
                        return spoolFailed(.failed(error))
                    }
                case .undecided:
                    preconditionFailure("Internal inconsistency: body storage not chosen")
                }
                decoded += count
                scan = data + count
            case .needMore:
                scan = input.count
            case .done(let consumed):
                scan += consumed
                return .complete
            case .invalid(let error):
                return .refused(error, fields: "", log: "invalid chunked body: \(error.reason)")
            }
        }
        return .needMore
    }

    /// Drops the framing already decoded: the input holds the head, the decoded body (in
    /// memory) and the bytes not taken yet, with no gap.
    func compact(_ input: InputBuffer) {
        let kept = end
        guard scan > kept else { return }
        input.removeRange(kept..<scan)
        scan = kept
    }

    /// Before `count` more decoded bytes of a chunked body: memory while it stays under the
    /// buffer size and the worker's budget has room, else a file with spool budget for them.
    func makeRoom(for count: Int, _ input: InputBuffer) -> Progress? {
        let needed = decoded + count
        if case .memory = storage {
            if needed <= memoryHeld { return nil }
            let want = min(bufferSize, max(needed, 2 * memoryHeld, 64 * 1024))
            if needed <= bufferSize && budget.takeMemory(want - memoryHeld) {
                memoryHeld = want
                return nil
            }
            // Too large, or the worker holds too much in memory: to a file, with what is here.
            if let refusal = openSpool(reserving: 0) { return refusal }
            guard case .spool(let spool) = storage else { return nil }
            do { try spool.append(input.bytes(start..<(start + decoded))) } catch { return spoolFailed(.failed(error)) }
            input.removeRange(start..<(start + decoded))
            scan -= decoded
            budget.giveMemory(memoryHeld)
            memoryHeld = 0
        }
        while needed > spoolHeld {
            var take = BodyBudget.step
            if budget.spoolLimit > 0 { take = min(take, max(budget.spoolLimit - spoolHeld, needed - spoolHeld)) }
            do { try budget.takeSpool(take, bodyTotal: needed) } catch { return spoolFailed(error) }
            spoolHeld += take
        }
        return nil
    }

    /// A temporary file with `bytes` of spool budget (a chunked body takes more as it grows).
    func openSpool(reserving bytes: Int) -> Progress? {
        do {
            try budget.takeSpool(bytes, bodyTotal: bytes)
        } catch {
            return spoolFailed(error)
        }
        spoolHeld += bytes
        do {
            storage = .spool(try BodySpool(directory: budget.spoolDirectory))
        } catch {
            return spoolFailed(.failed(error))
        }
        return nil
    }

    /// The answer to a body no temporary file can take: 413 when it never could, 503 (with
    /// Retry-After when the cause is passing) otherwise.
    func spoolFailed(_ refusal: BodyBudget.Refusal) -> Progress {
        let log = "cannot buffer a request body in \(budget.spoolDirectory): \(refusal)"
        switch refusal {
        case .neverFits:
            return .refused(HTTPError(413, "request body too large"), fields: "", log: log)
        case .overBudget, .lowSpace:
            return .refused(HTTPError(503, "cannot buffer the request body"), fields: "Retry-After: 5\r\n", log: log)
        case .failed:
            return .refused(HTTPError(503, "cannot buffer the request body"), fields: "", log: log)
        }
    }

    // MARK: - Reading (the application, through wsgi.input)

    /// Copies the next body bytes into `buffer`; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer, from input: InputBuffer) throws(SystemError) -> Int {
        switch storage {
        case .spool(let spool):
            return try spool.read(into: buffer)
        case .memory:
            let n = min(buffer.count, decoded - readOffset)
            guard n > 0 else { return 0 }
            buffer.baseAddress!.copyMemory(from: input.base + start + readOffset, byteCount: n)
            readOffset += n
            return n
        case .undecided:
            return 0
        }
    }
}

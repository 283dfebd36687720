internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// --timeout: a periodic look at every worker's time in the application (the scoreboard's
/// `busySince`), with the decisions in `RequestTimeouts`. A request past its timeout is logged
/// (the request line the worker published, its pid, the time so far) and its worker's main
/// thread gets SIGUSR2: the worker writes the stacks of its Python threads right after this
/// line, and the request gets an exception (PythonRuntime+Timeout in DWSGI). A request still
/// running `--timeout-grace` later has its worker killed; the usual respawn replaces it.
extension Supervisor {
    /// Arms the check when --timeout is set; without it the master runs no timer for it at all.
    func startRequestTimeouts() {
        guard let timeout = config.timeouts.request, timeout > 0 else { return }
        let timeouts = RequestTimeouts(timeout: timeout, grace: config.timeouts.requestGrace)
        requestTimeouts = timeouts
        let timer = Watcher(loop: loop, kind: .timer, persist: true) { [unowned self] _ in
            self.checkRequestTimeouts()
        }
        timer.arm(timeout: timeouts.interval)
        requestTimeoutTimer = timer
    }

    func checkRequestTimeouts() {
        guard requestTimeouts != nil else { return }
        let now = MonotonicClock.nanoseconds()
        let threads = scoreboard.threads
        for slot in 0..<pool.count {
            // With --threads, each thread's request is timed on its own (key: slot × (threads +
            // 1) + thread; the last row is the event loop's: WebSocket handler steps); the worker
            // interrupts the one past its time (WorkerProcess+Timeouts).
            let rows = threads > 1 ? threads + 1 : 1
            for thread in 0..<rows {
                let row = threads > 1 ? scoreboard.thread(thread, of: slot) : nil
                let busySince = row.map { scoreboard.busySince($0) } ?? scoreboard.busySince(slot)
                let action = requestTimeouts!.check(
                    slot: slot * rows + thread, pid: pool.pid(slot), busySince: busySince, now: now)
                let line: (UInt64) -> String? = { since in
                    row.map { self.scoreboard.request($0, busySince: since) }
                        ?? self.scoreboard.request(slot, busySince: since)
                }
                let who =
                    "worker \(pool.position(slot))" + (row == nil || thread == threads ? "" : " thread \(thread + 1)")
                switch action {
                case .interrupt(_, let pid, let busySince)?:
                    // The request line is read after busySince; nil: the worker has left that
                    // request meanwhile, and the check forgets it next time.
                    guard let line = line(busySince) else { continue }
                    let request = line.isEmpty ? "a request" : line
                    log(
                        "\(who) (pid \(pid)): \(request) has run for \(Self.tenths(now - busySince)) s "
                            + "(timeout \(Self.seconds(config.timeouts.request!))); interrupting it, the stacks of its "
                            + "Python threads follow")
                    // The worker's main thread handles the signal: only there is a blocking call
                    // interrupted (a request thread gets its exception at its next bytecode).
                    Posix.signalMainThread(pid, Posix.SIGUSR2)
                case .kill(_, let pid, let busySince)?:
                    let line = line(busySince) ?? ""
                    let request = line.isEmpty ? "its request" : line
                    log(
                        "\(who) (pid \(pid)) killed: \(request) stuck for \(Self.tenths(now - busySince)) s "
                            + "(timeout \(Self.seconds(config.timeouts.request!)), grace "
                            + "\(Self.seconds(config.timeouts.requestGrace)))")
                    exitReasons[pid] = "timeout"
                    Posix.kill(pid, Posix.SIGKILL)
                case nil:
                    break
                }
            }
        }
    }

    /// How a worker's exit is logged: a kill for a timeout says so, unlike a crash or the
    /// out-of-memory killer's SIGKILL.
    func describeExit(pid: Int32, status: CInt) -> String {
        let description = Posix.describeWaitStatus(status)
        guard requestTimeouts?.exited(pid: pid) == true, Posix.terminatingSignal(ofWaitStatus: status) == Posix.SIGKILL
        else { return description }
        return "killed by the request timeout: \(description)"
    }

    /// A time measured, in seconds to a tenth ("1.5").
    static func tenths(_ nanoseconds: UInt64) -> String {
        String(Double(nanoseconds / 100_000_000) / 10)
    }

    /// A setting, as given ("30 s", "0.5 s").
    static func seconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}

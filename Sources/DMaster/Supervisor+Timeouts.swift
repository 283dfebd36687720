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
        for slot in 0..<pool.count {
            let action = requestTimeouts!.check(
                slot: slot, pid: pool.pid(slot), busySince: scoreboard.busySince(slot), now: now)
            switch action {
            case .interrupt(let slot, let pid, let busySince)?:
                // The request line is read after busySince; nil: the worker has left that
                // request meanwhile, and the check forgets it next time.
                guard let line = scoreboard.request(slot, busySince: busySince) else { continue }
                let request = line.isEmpty ? "a request" : line
                log(
                    "worker \(pool.position(slot)) (pid \(pid)): \(request) has run for \(Self.tenths(now - busySince)) s "
                        + "(timeout \(Self.seconds(config.timeouts.request!))); interrupting it, the stacks of its "
                        + "Python threads follow")
                // Its main thread runs the requests: only there is a blocking call interrupted.
                Posix.signalMainThread(pid, Posix.SIGUSR2)
            case .kill(let slot, let pid, let busySince)?:
                let line = scoreboard.request(slot, busySince: busySince) ?? ""
                let request = line.isEmpty ? "its request" : line
                log(
                    "worker \(pool.position(slot)) (pid \(pid)) killed: \(request) stuck for \(Self.tenths(now - busySince)) s "
                        + "(timeout \(Self.seconds(config.timeouts.request!)), grace "
                        + "\(Self.seconds(config.timeouts.requestGrace)))")
                Posix.kill(pid, Posix.SIGKILL)
            case nil:
                break
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

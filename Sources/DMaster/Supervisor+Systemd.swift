internal import DEventLoop
internal import DIPC
internal import DPosix

/// systemd: `Type=notify` (READY=1 once the workers are ready, RELOADING=1 and READY=1 around a
/// reload, STOPPING=1, STATUS= each second, WATCHDOG=1 from the master's loop at half of
/// WATCHDOG_USEC) and socket activation (SocketActivation, used by bindListeners).
extension Supervisor {
    /// Reads and removes systemd's variables, so workers and the app neither see them nor send
    /// their own notifications; arms the status and watchdog timers.
    func startSystemdNotifications() {
        let ownPID = Posix.getpid()
        notifier = SystemdNotifier(environment: Posix.getenv, ownPID: ownPID)
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { Posix.unsetenv(name) }
        guard let notifier else { return }
        let status = Watcher(loop: loop, kind: .timer, persist: true) { [unowned self] _ in self.sendStatus() }
        status.arm(timeout: 1)
        watchers.append(status)
        if let seconds = notifier.watchdogSeconds {
            let watchdog = Watcher(loop: loop, kind: .timer, persist: true) { [unowned self] _ in
                self.notifier?.send("WATCHDOG=1")
            }
            watchdog.arm(timeout: seconds / 2)
            watchers.append(watchdog)
            notifier.send("WATCHDOG=1")
        }
    }

    /// After a worker became ready: READY=1 the first time every worker is.
    func notifyIfAllReady() {
        guard let notifier, !notifiedReady else { return }
        guard readyWorkers >= pool.workers else { return }
        notifiedReady = true
        notifier.send("READY=1\nSTATUS=\(statusLine(rate: 0))")
    }

    var readyWorkers: Int { (0..<pool.count).filter { pool.isReady($0) && !pool.isDraining($0) }.count }

    func notifyReloading() {
        notifier?.send("RELOADING=1\nMONOTONIC_USEC=\(MonotonicClock.nanoseconds() / 1000)")
    }

    func notifyReloaded() { notifier?.send("READY=1") }

    func notifyStopping() { notifier?.send("STOPPING=1") }

    func sendStatus() {
        var total: UInt64 = 0
        for slot in 0..<pool.count { total &+= scoreboard.answered(slot) }
        // A replaced worker's slot starts again from 0: that second counts nothing.
        let rate = total >= lastAnswered ? total - lastAnswered : 0
        lastAnswered = total
        notifier?.send("STATUS=\(statusLine(rate: rate))")
    }

    func statusLine(rate: UInt64) -> String {
        "\(readyWorkers) of \(pool.workers) workers ready, \(rate) requests/s"
    }
}

internal import DIPC
internal import DPosix
internal import DWSGI

/// --preload: the zygote imports the application once and forks every worker from there, so
/// that the workers share the application's memory (copy-on-write) instead of each importing it.
/// The master starts it as it starts a worker (`--zygote`, the same descriptors, its channel in
/// place of a worker's) and asks it for each worker it would otherwise spawn
/// (`ZygoteMessage`). It never runs a thread: a fork copies only the calling thread.
public enum Zygote {
    /// Runs the zygote until the master closes its channel; returns the exit status. A forked
    /// worker returns from here too, with its own status at its end.
    public static func run() -> Int32 {
        let prepared: WorkerProcess.Prepared
        switch WorkerProcess.prepare() {
        case .failure(let status): return status.rawValue
        case .success(let p): prepared = p
        }
        let runtime = prepared.runtime
        runtime.flushStdio()
        if let threads = Posix.threadCount(), threads > 1 {
            let names = runtime.otherThreadNames()
            ServerLog.write(
                .worker,
                "--preload: the application started \(threads - 1) thread\(threads == 2 ? "" : "s") while it was imported"
                    + (names.isEmpty ? "" : " (\(names))")
                    + "; a forked worker would have none of them (and any lock one held would stay locked). "
                    + "Start threads in a dispatchd.on_worker_start hook (or with dispatchd.spawn_thread), or run without --preload.",
                level: .critical)
            return WorkerContract.ExitStatus.preloadUnsafe.rawValue
        }
        runtime.freezeForForks()
        let channel = WorkerContract.Descriptor.channel
        guard ZygoteMessage.ready.send(on: channel) == .sent else {
            ServerLog.write(.worker, "the master is gone", level: .error)
            return WorkerContract.ExitStatus.setupFailed.rawValue
        }
        let receiver = DescriptorChannel.Receiver()
        while true {
            let result: DescriptorChannel.ReceiveResult
            do {
                _ = try Posix.poll(channel, events: Posix.pollIn, timeoutMilliseconds: -1)
                result = try receiver.receive(channel)
            } catch {
                ServerLog.write(.worker, "--preload: the channel to the master failed: \(error)", level: .error)
                return WorkerContract.ExitStatus.setupFailed.rawValue
            }
            switch result {
            case .wouldBlock:
                continue
            case .closed:
                // The master has no more use for this zygote (a reload made another, or the server
                // stops), or is gone.
                return WorkerContract.ExitStatus.ok.rawValue
            case .message(let message):
                guard case .fork(let slot)? = ZygoteMessage(payload: message.payload), message.descriptors.count == 1
                else {
                    for fd in message.descriptors { Posix.close(fd) }
                    ServerLog.write(.worker, "--preload: unexpected message from the master", level: .error)
                    continue
                }
                let workerChannel = message.descriptors[0]
                let reply: ZygoteMessage
                // What the import printed goes out once, not once more from every worker.
                runtime.flushStdio()
                var failure: SystemError? = nil
                let pid = runtime.fork {
                    do throws(SystemError) { return try Posix.forkDetached() } catch {
                        failure = error
                        return -1
                    }
                }
                if pid == 0 { return becomeWorker(prepared, slot: slot, channel: workerChannel) }
                if let failure {
                    ServerLog.write(
                        .worker, "--preload: cannot fork the worker for slot \(slot): \(failure)", level: .error)
                    reply = .forkFailed(slot: slot, errno: failure.errno)
                } else {
                    reply = .forked(slot: slot, pid: pid)
                }
                Posix.close(workerChannel)
                // The master reads its channel as soon as the loop comes round; a full channel
                // would mean it is gone, whose worker exits when its own channel closes.
                _ = reply.send(on: channel)
            }
        }
    }

    /// In the forked process: the worker's channel where a spawned worker has it (in place of
    /// the zygote's, which is not a worker's business), a process group of its own, then the
    /// worker's start.
    static func becomeWorker(_ prepared: WorkerProcess.Prepared, slot: Int, channel: CInt) -> Int32 {
        do {
            try Posix.move(channel, to: WorkerContract.Descriptor.channel)
        } catch {
            ServerLog.write(.worker, "--preload: cannot set up the worker's channel: \(error)", level: .critical)
            return WorkerContract.ExitStatus.setupFailed.rawValue
        }
        Posix.newProcessGroup()
        return WorkerProcess.start(prepared, slot: slot)
    }
}

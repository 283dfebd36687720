internal import DPosix
internal import DIPC

/// The worker's descriptor budget: what it announces so that the master never hands it more
/// connections than its descriptor limit lets it hold (DescriptorBudget).
extension WorkerProcess {
    /// Descriptors held for connections and for the files opened for them: counted as they
    /// open and close, without a system call.
    var heldDescriptors: Int { connections.count + OpenFile.open + BodySpool.open }

    /// Measures the worker's own descriptors (the application is loaded, the loop set up) and
    /// announces its room, before it reports ready.
    func startDescriptorBudget() {
        let limit = DescriptorLimit.current().soft
        let own: Int
        if let counted = DescriptorLimit.countOpen() {
            own = counted
        } else {
            own = DescriptorBudget.maximumReserve
            log("cannot list open descriptors (/proc/self/fd): assuming \(own)")
        }
        budget = DescriptorBudget(limit: limit, baseline: own)
        publishAdmissionLimit()
        let room = budget.room(held: 0)
        // Quiet where limits are generous; said where they are what caps the connections.
        if room < 1000 {
            log("descriptor limit \(limit): room for \(room) connections at once (\(own) descriptors open, \(budget.reserve) kept for the application); "
                + "more wait in the listen backlog until some close. Raise the hard limit (ulimit -Hn, systemd's LimitNOFILE=) for more")
        }
    }

    func publishAdmissionLimit() {
        scoreboard.setAdmissionLimit(config.slot, budget.admissionLimit(received: taken, held: heldDescriptors))
    }
}

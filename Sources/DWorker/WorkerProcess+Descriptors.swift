internal import DIPC
internal import DPosix

/// The worker's descriptor budget: what it announces so that the master never hands it more
/// connections than its descriptor limit lets it hold (DescriptorBudget), and what it does when
/// the kernel truncates a hand-off anyway.
extension WorkerProcess {
    /// Descriptors held for connections and for the files opened for them: counted as they
    /// open and close, without a system call.
    var heldDescriptors: Int { connections.count + OpenFile.open + BodySpool.open }

    /// Measures the worker's own descriptors (the application is loaded, the loop set up) and
    /// announces its room, before it reports ready.
    func startDescriptorBudget() {
        let limit = DescriptorLimit.current().soft
        var own: Int
        if let counted = DescriptorLimit.countOpen() {
            own = counted
        } else {
            own = DescriptorBudget.maximumReserve
            log("cannot list open descriptors (/proc/self/fd): assuming \(own)", level: .warning)
        }
        // The channel bus waits on the channel (the master sends it first), read once the loop
        // runs: counted now, so that the room logged and announced is the room there is.
        if channels.bus == nil {
            own += 1
            busCounted = true
        }
        budget = DescriptorBudget(limit: limit, baseline: own)
        publishAdmissionLimit()
        let room = budget.room(held: 0)
        // Quiet where limits are generous; said where they are what caps the connections.
        if room < 1000 {
            log(
                "descriptor limit \(limit): room for \(room) connections at once (\(own) descriptors open, \(budget.reserve) kept for the application); "
                    + "more wait in the listen backlog until some close. Raise the hard limit (ulimit -Hn, systemd's LimitNOFILE=) for more"
            )
        }
    }

    /// The worker keeps a descriptor more (or one less) of its own: its channel bus. Before the
    /// budget is measured, the measurement counts it.
    func ownDescriptorsChanged(by delta: Int) {
        if delta > 0 && busCounted {
            busCounted = false  // counted when the budget was measured
            return
        }
        guard budget.limit > 0 else { return }
        budget.ownChanged(by: delta)
        publishAdmissionLimit()
    }

    func publishAdmissionLimit() {
        scoreboard.setAdmissionLimit(config.slot, budget.admissionLimit(received: taken, held: heldDescriptors))
        scoreboard.setHeld(config.slot, connections.count)
        // Accepting itself (--accept-mode shared): the same room decides whether it watches
        // the listeners. `taken` counts only what came over the channel (the master's count of
        // what waits there stays right); connections accepted here count in `heldDescriptors`.
        updateSharedAccept()
    }

    /// The kernel could not pass the descriptors of a hand-off of `sent` connections: this
    /// worker ran out of descriptors, with some open that it did not count (the application's).
    /// Those connections are lost; the worker carries on with the ones it holds.
    func handOffTruncated(sent: Int, arrived: Int) {
        // Listing them needs a descriptor too. When none is free, every number below the limit
        // was taken when the kernel gave up, and the `arrived` ones have been closed since.
        let open = DescriptorLimit.countOpen() ?? budget.limit - arrived
        budget.measured(open: open, held: heldDescriptors)
        publishAdmissionLimit()
        log(
            "out of descriptors (limit \(budget.limit)): lost \(sent) connection\(sent == 1 ? "" : "s") handed over by the master "
                + "(the kernel passed \(arrived) of \(sent); those were closed); \(budget.baseline) descriptors are open besides the "
                + "\(heldDescriptors) for connections and files, so this worker takes no more connections until some are closed"
        )
    }

    /// Once a second while descriptors were found open beyond those counted: they are counted
    /// again (this lists every open descriptor, so only then), and once they are closed the
    /// worker's room is back.
    func recountDescriptorsIfNeeded() {
        guard budget.needsRecount else { return }
        // nil: not even one descriptor is free to read the list with (or, without /proc, no
        // way to tell: the room stays as small as it is rather than lose more connections).
        let open = DescriptorLimit.countOpen() ?? budget.limit
        budget.measured(open: open, held: heldDescriptors)
        if !budget.needsRecount {
            log("descriptors are free again: room for \(budget.room(held: heldDescriptors)) more connections")
        }
    }
}

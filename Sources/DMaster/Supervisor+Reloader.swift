internal import DConfig
internal import DEventLoop
internal import DPosix

/// --reload (development): the workers report the source files of the application; the master
/// watches them (and --reload-extra-file) and, when one changes, runs a rolling reload. A change
/// that breaks the import abandons that reload: the old code serves on, and the next save tries
/// again.
extension Supervisor {
    func startWatchingFiles() {
        do {
            let watcher = try FileWatcher()
            let event = Watcher(loop: loop, kind: .read(watcher.fd.raw), persist: true) { [unowned self] _ in
                self.filesChanged()
            }
            event.arm()
            fileWatcher = watcher
            fileWatcherEvent = event
            watch(config.development.reloadExtraFiles)
        } catch {
            log("--reload: cannot watch files: \(error)", level: .error)
        }
    }

    /// Adds files a worker reported (the first report of each is logged as a count).
    func watch(_ paths: [String]) {
        guard let watcher = fileWatcher else { return }
        let added = paths.filter { watcher.watch($0) }.count
        if added > 0 { log("--reload: watching \(watcher.count) file\(watcher.count == 1 ? "" : "s") for changes") }
    }

    func filesChanged() {
        guard let watcher = fileWatcher else { return }
        let changed = watcher.changes()
        guard !changed.isEmpty, !pool.shuttingDown else { return }
        changedFiles.formUnion(changed)
        guard reloadSettle == nil else { return }
        // An editor's save is several writes (and a rename): one reload for all of them.
        let settle = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            self.reloadSettle = nil
            self.log("--reload: \(self.changedFiles.sorted().joined(separator: ", ")) changed")
            self.changedFiles.removeAll()
            self.reload()
        }
        settle.arm(timeout: Self.settleTime)
        reloadSettle = settle
    }

    static let settleTime = 0.2
}

import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 15: --preload. A zygote imports the application once and forks the workers, which
    /// the master supervises as spawned ones (they are its children); a reload imports anew.
    @Suite struct PreloadTests {
        struct Answer: Decodable {
            var version: Int
            var pid: Int32
            var ppid: Int32
            var importedBy: Int32
            var started: [Int32]
            var threadsRan: [Int32]

            enum CodingKeys: String, CodingKey {
                case version, pid, ppid, started
                case importedBy = "imported_by"
                case threadsRan = "threads_ran"
            }
        }

        static func answer(_ port: Int) throws -> Answer {
            try JSONDecoder().decode(Answer.self, from: Data(try RawClient.get(port, "/").body))
        }

        /// Answers until every live worker has answered (round-robin makes that quick).
        static func answersFromEveryWorker(_ s: ServerProcess, count: Int) throws -> [Int32: Answer] {
            var answers: [Int32: Answer] = [:]
            for _ in 0..<(count * 20) where answers.count < count {
                let a = try answer(s.port)
                answers[a.pid] = a
            }
            return answers
        }

        /// The zygote's pid, from the master's log.
        static func zygotes(_ s: ServerProcess) -> [Int32] {
            s.stderr.text.split(separator: "\n").filter { $0.contains("importing the application in a zygote") }
                .compactMap { line in
                    line.range(of: #"pid (\d+)"#, options: .regularExpression).map { Int32(line[$0].dropFirst(4))! }
                }
        }

        /// Private (unshared) resident KiB of `pid`.
        static func privateKiB(_ pid: Int32) -> Int {
            let text = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").filter { $0.hasPrefix("Private_") }.reduce(0) { sum, line in
                sum + (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0)
            }
        }

        /// `withServer` with --preload, which also expects every zygote gone after the stop.
        static func withPreloadServer(
            _ arguments: [String], workers: Int = 2, environment: [String: String] = [:],
            allowWorkerExits: Bool = false,
            sourceLocation: SourceLocation = #_sourceLocation, _ body: (ServerProcess) throws -> Void
        ) throws {
            let s = try ServerProcess(["--preload"] + arguments, workers: workers, environment: environment)
            defer {
                s.stop(allowWorkerExits: allowWorkerExits, sourceLocation: sourceLocation)
                for zygote in zygotes(s) {
                    var gone = false
                    for _ in 0..<100 where !gone {
                        gone = !ProcFS.isAlive(zygote)
                        if !gone { Thread.sleep(forTimeInterval: 0.05) }
                    }
                    #expect(gone, "zygote \(zygote) outlived the master", sourceLocation: sourceLocation)
                }
            }
            try body(s)
        }

        static func imports(_ file: LifecycleHookTests.EventFile) -> [String] {
            let text = (try? String(contentsOfFile: file.path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").filter { $0.hasPrefix("import ") }.map(String.init)
        }

        /// One import, in the zygote; each worker is the master's child, ran its own start hook
        /// and the thread the import asked for, and does not hold the application's 32 MiB alone
        /// (a spawned worker does), full garbage collections included; workers have the
        /// descriptors a spawned worker has.
        @Test func workersAreForkedFromOneImport() throws {
            let file = try LifecycleHookTests.EventFile()
            var spawnedPrivate = 0
            var spawnedFDs: [String] = []
            try withServer(
                ["preloadapp:application"], workers: 1, environment: ["DISPATCHD_TEST_EVENTS": file.path]
            ) { s in
                let a = try Self.answer(s.port)
                #expect(a.importedBy == a.pid)
                spawnedPrivate = Self.privateKiB(a.pid)
                spawnedFDs = Self.descriptorKinds(a.pid)
            }
            try? FileManager.default.removeItem(atPath: file.path)
            try Self.withPreloadServer(
                ["preloadapp:application"], workers: 3, environment: ["DISPATCHD_TEST_EVENTS": file.path]
            ) { s in
                let answers = try Self.answersFromEveryWorker(s, count: 3)
                // Full collections in every worker (round-robin): the imported objects stay
                // shared, their pages unwritten (gc.freeze in the zygote; without it, each worker
                // copies the 14 MiB of lists).
                let before = answers.keys.map { ($0, Self.privateKiB($0)) }
                for _ in 0..<9 { _ = try RawClient.get(s.port, "/?collect") }
                for (pid, kib) in before {
                    let grown = Self.privateKiB(pid) - kib
                    #expect(grown < 6 * 1024, "worker \(pid): \(grown) KiB more of its own after full collections")
                }
                #expect(answers.count == 3, "\(answers.keys)")
                let zygote = Self.zygotes(s)
                #expect(zygote.count == 1, "\(s.stderr.text)")
                #expect(Self.imports(file) == ["import \(zygote.first ?? -1)"], "\(Self.imports(file))")
                for (pid, a) in answers {
                    #expect(a.importedBy == zygote.first && a.ppid == s.pid, "worker \(pid): \(a)")
                    #expect(a.started == [pid], "worker \(pid)'s start hooks: \(a.started)")
                    #expect(a.threadsRan == [pid], "worker \(pid)'s import-time thread: \(a.threadsRan)")
                    let own = Self.privateKiB(pid)
                    #expect(
                        own < spawnedPrivate - 24 * 1024,
                        "worker \(pid) holds \(own) KiB of its own, a spawned one \(spawnedPrivate) KiB")
                    #expect(Self.descriptorKinds(pid) == spawnedFDs, "worker \(pid)")
                }
                #expect(s.stderr.text.contains("started, forked from the preloaded application"))
            }
        }

        /// No process of the server (master, zygote, workers) loads Foundation or its ICU data:
        /// each process that did touched about 3 MiB of them at start (8 preloaded
        /// Flask workers: 91.6 MiB PSS with them, 84.6 without; Benchmarks/memory.py). Only
        /// FoundationEssentials stays (JSON, and swift-argument-parser's).
        @Test func noProcessLoadsFoundation() throws {
            try Self.withPreloadServer(["preloadapp:application"], workers: 2) { s in
                _ = try Self.answersFromEveryWorker(s, count: 2)
                let pids = [s.pid] + Self.zygotes(s) + s.liveWorkerPids()
                #expect(pids.count == 4, "\(pids)")
                for pid in pids {
                    let maps = (try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)) ?? ""
                    #expect(maps.contains("libswiftCore.so") || maps.contains("dispatchd"), "pid \(pid): no maps")
                    for library in [
                        "/libFoundation.so", "/lib_FoundationICU.so", "/libFoundationInternationalization.so",
                    ] {
                        #expect(!maps.contains(library), "pid \(pid) maps \(library)")
                    }
                }
            }
        }

        /// A killed worker is forked again from the same import; a killed zygote is replaced by a
        /// new one when the next worker is to start, and that one imports once more.
        @Test func killedWorkersAndZygotesAreReplaced() throws {
            let file = try LifecycleHookTests.EventFile()
            try Self.withPreloadServer(
                ["preloadapp:application"], workers: 2, environment: ["DISPATCHD_TEST_EVENTS": file.path],
                allowWorkerExits: true
            ) { s in
                let first = try Self.answersFromEveryWorker(s, count: 2)
                let victim = try #require(first.keys.first)
                kill(victim, SIGKILL)
                #expect(ReplacementTests.waitFor(s, "started, forked from the preloaded application", count: 3))
                #expect(ReplacementTests.waitFor(s, ") ready", count: 3))
                let second = try Self.answersFromEveryWorker(s, count: 2)
                #expect(second.count == 2 && second[victim] == nil, "\(second.keys)")
                #expect(Set(second.values.map(\.importedBy)).count == 1)
                #expect(Self.imports(file).count == 1, "\(Self.imports(file))")

                let zygote = try #require(Self.zygotes(s).first)
                kill(zygote, SIGKILL)
                #expect(ReplacementTests.waitFor(s, "the zygote (pid \(zygote)) exited"))
                for _ in 0..<4 { _ = try Self.answer(s.port) }  // the workers serve on
                let next = try #require(second.keys.first)
                kill(next, SIGKILL)
                #expect(
                    ReplacementTests.waitFor(s, "importing the application in a zygote", count: 2), "\(s.stderr.text)")
                #expect(ReplacementTests.waitFor(s, ") ready", count: 4), "\(s.stderr.text)")
                let third = try Self.answersFromEveryWorker(s, count: 2)
                let newZygote = try #require(Self.zygotes(s).last)
                #expect(third.count == 2 && third.values.contains { $0.importedBy == newZygote }, "\(third)")
                #expect(Self.imports(file).count == 2, "\(Self.imports(file))")
            }
        }

        static func app(version: Int) -> String {
            """
            import os
            VERSION = \(version)
            IMPORTED_BY = os.getpid()
            def application(environ, start_response):
                body = ('%d %d %d' % (VERSION, IMPORTED_BY, os.getpid())).encode()
                start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
                return [body]
            """
        }

        /// SIGHUP imports the code anew, in a new zygote, and replaces every worker with one
        /// forked from it; the old zygote exits. Code that fails to import abandons the reload and
        /// the old workers serve on; fixed, the next SIGHUP reloads.
        @Test func reloadImportsTheNewCode() throws {
            let dir = try ReplacementTests.AppDirectory(Self.app(version: 1))
            try Self.withPreloadServer(["--pythonpath", dir.path, "editable:application"], allowWorkerExits: true) {
                s in
                #expect(try RawClient.get(s.port, "/").text.hasPrefix("1 "))
                try dir.write(Self.app(version: 2))
                kill(s.pid, SIGHUP)
                #expect(ReplacementTests.waitFor(s, "reload complete: 2 workers replaced"), "\(s.stderr.text)")
                let zygotes = Self.zygotes(s)
                #expect(zygotes.count == 2)
                for _ in 0..<4 {
                    let f = try RawClient.get(s.port, "/").text.split(separator: " ")
                    #expect(f.count == 3 && f[0] == "2" && Int32(f[1]) == zygotes.last, "\(f)")
                }
                var oldGone = false
                for _ in 0..<100 where !oldGone {
                    oldGone = !ProcFS.isAlive(zygotes[0])
                    if !oldGone { Thread.sleep(forTimeInterval: 0.05) }
                }
                #expect(oldGone, "the old zygote is still there")

                try dir.write("raise RuntimeError('broken on purpose')\n")
                kill(s.pid, SIGHUP)
                #expect(ReplacementTests.waitFor(s, "reload abandoned"), "\(s.stderr.text)")
                #expect(s.stderr.text.contains("RuntimeError: broken on purpose"))
                for _ in 0..<4 { #expect(try RawClient.get(s.port, "/").text.hasPrefix("2 ")) }

                try dir.write(Self.app(version: 3))
                kill(s.pid, SIGHUP)
                #expect(
                    ReplacementTests.waitFor(s, "reload complete: 2 workers replaced", count: 2), "\(s.stderr.text)")
                for _ in 0..<4 { #expect(try RawClient.get(s.port, "/").text.hasPrefix("3 ")) }
            }
        }

        /// An application that cannot be imported, or that starts a thread while it is imported,
        /// stops the server at start-up with the worker's exit status and a line that says why.
        @Test func unfitApplicationsStopTheServer() throws {
            let broken = try ServerProcess(["--preload", "broken:application"], waitReady: false)
            #expect(broken.waitForExit(timeout: 20) == 4, "\(broken.stderr.text)")
            #expect(broken.stderr.text.contains("stopping: the application failed to load"), "\(broken.stderr.text)")

            let threaded = try ServerProcess(
                ["--preload", "preloadapp:application"], waitReady: false,
                environment: ["DISPATCHD_TEST_THREAD_AT_IMPORT": "1"])
            #expect(threaded.waitForExit(timeout: 20) == 8, "\(threaded.stderr.text)")
            let log = threaded.stderr.text
            #expect(
                log.contains("--preload: the application started 1 thread while it was imported (import-time-poller)"),
                "\(log)")
            #expect(
                log.contains(
                    "stopping: the application started threads while it was imported, so --preload cannot fork it"))
            for s in [broken, threaded] {
                for zygote in Self.zygotes(s) { #expect(!ProcFS.isAlive(zygote)) }
            }
        }

        /// What each of `pid`'s descriptors is (by number; pipe and socket inodes left out), but
        /// for client connections (sockets past the worker's own, the last request's may still
        /// be closing).
        static func descriptorKinds(_ pid: Int32) -> [String] {
            let dir = "/proc/\(pid)/fd"
            let fds = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap(Int.init).sorted()
            return fds.compactMap { fd in
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(fd)")) ?? "?"
                let kind = target.split(separator: ":").first.map(String.init) ?? ""
                return fd > 8 && kind == "socket" ? nil : "\(fd) \(kind)"
            }
        }
    }
}

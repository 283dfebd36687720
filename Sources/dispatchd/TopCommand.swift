import ArgumentParser
import DConfig
import DPosix

#if canImport(Glibc)
    import Glibc
#endif

/// `dispatchd top ADDR`: a terminal view of a running master's --stats, refreshed every second,
/// as uwsgitop is for uWSGI's stats server.
struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatchd top",
        abstract: "Watch a running dispatchd: its workers, their requests and memory, from its --stats listener.")

    @Argument(help: ArgumentHelp("The master's --stats address: HOST:PORT, :PORT or unix:PATH.", valueName: "address"))
    var address: String

    @Option(help: ArgumentHelp("Seconds between refreshes (default: 1).", valueName: "seconds"))
    var interval: Double = 1

    @Flag(help: "Print one frame (rates over one interval) and exit, for scripts.")
    var once = false

    func validate() throws {
        guard interval > 0 && interval.isFinite else {
            throw ValidationError("--interval must be a positive number of seconds (got \(interval))")
        }
        do {
            _ = try BindAddress.parse(address)
        } catch {
            throw ValidationError("'\(address)' is not HOST:PORT, :PORT or unix:PATH")
        }
    }

    func run() throws {
        let parsed = try BindAddress.parse(address)
        let client = StatsClient(address: parsed)
        let view = TopView(address: address)
        let terminal = isatty(1) == 1 && !once
        var previous: TopView.Frame? = nil
        while true {
            let frame: TopView.Frame
            do {
                frame = try TopView.Frame(
                    workersJSON: client.get("/workers"), metricsText: client.get("/metrics"),
                    at: Double(MonotonicClock.nanoseconds()) / 1e9)
            } catch let failure as StatsClient.Failure {
                // The master may be restarting: a terminal view waits for it; a script fails.
                guard terminal else { throw ValidationError(failure.description) }
                print("\u{1B}[H\u{1B}[2J\(failure.description); retrying", terminator: "\n")
                fflush(nil)
                Self.sleep(interval)
                continue
            }
            if previous != nil || !once {
                let text = view.render(frame, previous: previous)
                print((terminal ? "\u{1B}[H\u{1B}[2J" : "") + text, terminator: "")
                fflush(nil)
                if once { return }
            }
            previous = frame
            Self.sleep(interval)
        }
    }

    static func sleep(_ seconds: Double) {
        var wait = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var left = timespec()
        while nanosleep(&wait, &left) == -1 && errno == EINTR { wait = left }
    }
}

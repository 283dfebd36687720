import DWorker

/// The release this source is: bumped when one is tagged.
enum Version {
    static let number = "0.13.0"

    /// `dispatchd --version`: the release and what the binary was built with.
    static var line: String { "dispatchd \(number) (\(WorkerProcess.builtWith))" }
}

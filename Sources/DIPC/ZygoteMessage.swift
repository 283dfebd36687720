public import DPosix

/// The messages on the SEQPACKET channel between the master and the --preload zygote. The
/// zygote imports the application once; the master asks it for each worker it would otherwise
/// spawn, attaching the worker's end of that worker's own channel; the zygote forks the worker
/// (which becomes the master's child: the master is a subreaper) and says its pid.
public enum ZygoteMessage: Equatable, Sendable {
    /// zygote → master: the application is imported; forks may be asked for.
    case ready
    /// master → zygote: fork the worker for `slot` (its channel's worker end attached).
    case fork(slot: Int)
    /// zygote → master: the worker for `slot` runs as `pid`.
    case forked(slot: Int, pid: Int32)
    /// zygote → master: the worker for `slot` could not be forked (`errno`).
    case forkFailed(slot: Int, errno: Int32)

    enum Tag: UInt8 {
        case ready = 0x52  // "R"
        case fork = 0x46  // "F"
        case forked = 0x50  // "P"
        case forkFailed = 0x4E  // "N"
    }

    /// The message's bytes: its tag, then its numbers as little-endian 32-bit words.
    public var payload: [UInt8] {
        func words(_ tag: Tag, _ values: [Int32]) -> [UInt8] {
            [tag.rawValue] + values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> Int32(8 * $0)) } }
        }
        return switch self {
        case .ready: words(.ready, [])
        case .fork(let slot): words(.fork, [Int32(slot)])
        case .forked(let slot, let pid): words(.forked, [Int32(slot), pid])
        case .forkFailed(let slot, let errno): words(.forkFailed, [Int32(slot), errno])
        }
    }

    /// The message in `payload`; nil for bytes that are none.
    public init?(payload p: [UInt8]) {
        guard let first = p.first, let tag = Tag(rawValue: first), (p.count - 1) % 4 == 0 else { return nil }
        let values: [Int32] = stride(from: 1, to: p.count, by: 4).map { i in
            (0..<4).reduce(Int32(0)) { $0 | Int32(p[i + $1]) << Int32(8 * $1) }
        }
        switch (tag, values.count) {
        case (.ready, 0): self = .ready
        case (.fork, 1) where values[0] >= 0: self = .fork(slot: Int(values[0]))
        case (.forked, 2) where values[0] >= 0 && values[1] > 0: self = .forked(slot: Int(values[0]), pid: values[1])
        case (.forkFailed, 2) where values[0] >= 0: self = .forkFailed(slot: Int(values[0]), errno: values[1])
        default: return nil
        }
    }

    /// Sends the message (with `fds` attached), without blocking.
    public func send(on channel: CInt, fds: [CInt] = []) -> DescriptorChannel.SendResult {
        DescriptorChannel.send(channel, payload: payload, fds: fds)
    }
}

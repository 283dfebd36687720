internal import DConfig
internal import DPosix

/// The request-body bytes a worker holds at once, over all its connections: bounded, so that
/// many slow uploads cannot exhaust its memory or the disk. A body that does not fit in memory
/// goes to a temporary file; one that does not fit there either (the spool's own budget, or the
/// free space its file system must keep) is refused: 503 when it may fit later, 413 when it is
/// larger than the whole spool budget. Bodies of unknown size take spool space in steps
/// (`step`), so the file system is asked about its free space at most once a step.
final class BodyBudget {
    let memoryLimit: Int
    /// 0: no limit (the free-space floor still applies).
    let spoolLimit: Int
    let spoolDirectory: String
    let floor: FreeSpace
    private(set) var inMemory = 0
    private(set) var inSpool = 0

    /// How much a body whose size is not known (chunked) takes at a time.
    static let step = 1 << 20

    /// Why a body cannot be spooled.
    enum Refusal: Error, CustomStringConvertible {
        /// The body alone is larger than the spool budget.
        case neverFits(limit: Int)
        case overBudget(limit: Int)
        case lowSpace(free: Int, floor: Int)
        case failed(SystemError)

        var description: String {
            switch self {
            case .neverFits(let limit): "it is larger than --body-spool-max (\(limit) bytes)"
            case .overBudget(let limit):
                "the worker's temporary files would hold more than --body-spool-max (\(limit) bytes)"
            case .lowSpace(let free, let floor):
                "the spool's file system has \(free) bytes free and must keep \(floor) (--body-spool-min-free)"
            case .failed(let error): "\(error)"
            }
        }
    }

    init(memoryLimit: Int, spoolLimit: Int, spoolDirectory: String, floor: FreeSpace) {
        self.memoryLimit = memoryLimit
        self.spoolLimit = spoolLimit
        self.spoolDirectory = spoolDirectory
        self.floor = floor
    }

    /// Takes `bytes` of the memory budget; false when they do not fit.
    func takeMemory(_ bytes: Int) -> Bool {
        guard inMemory + bytes <= memoryLimit else { return false }
        inMemory += bytes
        return true
    }

    func giveMemory(_ bytes: Int) {
        inMemory -= bytes
        precondition(inMemory >= 0, "Internal inconsistency: body memory budget below zero")
    }

    /// Takes `bytes` of the spool budget for a body that will then hold `bodyTotal` there, if they
    /// fit and leave the file system its floor.
    func takeSpool(_ bytes: Int, bodyTotal: Int) throws(Refusal) {
        if spoolLimit > 0 {
            guard bodyTotal <= spoolLimit else { throw .neverFits(limit: spoolLimit) }
            guard inSpool + bytes <= spoolLimit else { throw .overBudget(limit: spoolLimit) }
        }
        let space: (free: Int, size: Int)
        do { space = try Posix.fileSystemSpace(spoolDirectory) } catch { throw .failed(error) }
        let keep = floor.bytes(ofFileSystemSize: space.size)
        guard space.free - bytes >= keep else { throw .lowSpace(free: space.free, floor: keep) }
        inSpool += bytes
    }

    func giveSpool(_ bytes: Int) {
        inSpool -= bytes
        precondition(inSpool >= 0, "Internal inconsistency: body spool budget below zero")
    }
}

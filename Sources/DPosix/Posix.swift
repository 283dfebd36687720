internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// The one place that owns errno policy: EINTR is retried, EAGAIN is reported as
/// `wouldBlock`, and descriptor misuse (EBADF, EFAULT) is our bug and stops the process.
public enum Posix {
    /// The outcome of a non-blocking I/O call.
    public enum IOResult: Equatable, Sendable {
        case done(Int)
        case wouldBlock
    }

    @inline(__always)
    static func checkBug(_ e: CInt, _ call: StaticString) {
        precondition(e != EBADF && e != EFAULT, "Internal inconsistency: \(call) got errno \(e)")
    }

    /// Runs `body` until it does not fail with EINTR; maps EAGAIN to `.wouldBlock`.
    @inline(__always)
    static func io(_ call: StaticString, _ body: () -> Int) throws(SystemError) -> IOResult {
        while true {
            let n = body()
            if n >= 0 { return .done(n) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            checkBug(e, call)
            throw SystemError(errno: e, call: "\(call)")
        }
    }

    @inline(__always)
    static func check(_ call: StaticString, _ body: () -> CInt) throws(SystemError) -> CInt {
        while true {
            let n = body()
            if n >= 0 { return n }
            let e = errno
            if e == EINTR { continue }
            checkBug(e, call)
            throw SystemError(errno: e, call: "\(call)")
        }
    }

    public static func read(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult {
        try io("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    public static func write(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult {
        try io("write") { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }

    /// Reads without taking: the bytes stay for the next read.
    public static func peek(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult {
        try io("recv") { Glibc.recv(fd, buffer.baseAddress, buffer.count, CInt(MSG_PEEK)) }
    }

    /// Sends without raising SIGPIPE on a peer that has gone.
    public static func send(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult {
        try io("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, CInt(MSG_NOSIGNAL)) }
    }

    public static func sendfile(
        _ out: CInt, _ file: CInt, offset: inout Int, count: Int
    ) throws(SystemError) -> IOResult {
        var off = off_t(offset)
        let r = try io("sendfile") { Glibc.sendfile(out, file, &off, count) }
        offset = Int(off)
        return r
    }

    public static func pread(
        _ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int
    ) throws(SystemError) -> Int {
        guard case .done(let n) = try io("pread", { Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) })
        else {
            throw SystemError(errno: EAGAIN, call: "pread")
        }
        return n
    }

    /// Writes all of `bytes` to a (blocking) file.
    public static func writeFile(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            guard case .done(let n) = try write(fd, UnsafeRawBufferPointer(rebasing: bytes[offset...])) else {
                throw SystemError(errno: EAGAIN, call: "write")
            }
            offset += n
        }
    }

    /// What `stat` says of a file.
    public struct FileInfo: Sendable {
        public var isRegular: Bool
        public var isDirectory: Bool
        public var size: Int
        public var mtimeSeconds: Int
        public var mtimeNanoseconds: Int
        public var inode: UInt64
    }

    static func info(_ st: stat) -> FileInfo {
        FileInfo(
            isRegular: (st.st_mode & S_IFMT) == S_IFREG, isDirectory: (st.st_mode & S_IFMT) == S_IFDIR,
            size: Int(st.st_size), mtimeSeconds: Int(st.st_mtim.tv_sec),
            mtimeNanoseconds: Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec), inode: UInt64(st.st_ino)
        )
    }

    /// Opens a file for reading (close-on-exec).
    public static func openReadOnly(_ path: String) throws(SystemError) -> OwnedFD {
        OwnedFD(try check("open") { Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) })
    }

    public static func fstat(_ fd: CInt) throws(SystemError) -> FileInfo {
        var st = stat()
        _ = try check("fstat") { Glibc.fstat(fd, &st) }
        return info(st)
    }

    /// The canonical path (symlinks resolved), or nil.
    public static func realpath(_ path: String) -> String? {
        guard let r = Glibc.realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// An unnamed temporary file in `directory`, gone when the descriptor closes.
    public static func openTemporaryFile(in directory: String) throws(SystemError) -> OwnedFD {
        OwnedFD(try check("open(O_TMPFILE)") { CDPosix_open_tmpfile(directory) })
    }

    /// The space an unprivileged process may still use on the file system holding `path`, and
    /// the file system's size, in bytes.
    public static func fileSystemSpace(_ path: String) throws(SystemError) -> (free: Int, size: Int) {
        var st = statvfs()
        _ = try check("statvfs") { statvfs(path, &st) }
        return (Int(st.f_bavail) * Int(st.f_frsize), Int(st.f_blocks) * Int(st.f_frsize))
    }

    public static func close(_ fd: CInt) {
        // Linux closes the descriptor even when close() reports EINTR: never retry.
        _ = Glibc.close(fd)
    }

    public static func setNonBlocking(_ fd: CInt, _ on: Bool = true) throws(SystemError) {
        _ = try check("fcntl(O_NONBLOCK)") { CDPosix_set_nonblocking(fd, on ? 1 : 0) }
    }

    /// Moves a descriptor to a number of at least `minimum` (close-on-exec), closing the old
    /// number: keeps it clear of the numbers a spawned child expects (3, 4).
    public static func moveAbove(_ fd: consuming OwnedFD, minimum: CInt) throws(SystemError) -> OwnedFD {
        if fd.raw >= minimum { return fd }
        let raw = fd.raw
        let moved = try check("fcntl(F_DUPFD_CLOEXEC)") { CDPosix_dup_above(raw, minimum) }
        _ = consume fd
        return OwnedFD(moved)
    }

    /// Waits until `fd` is readable (`events` = POLLIN) or writable (POLLOUT); false on timeout.
    public static func poll(_ fd: CInt, events: Int16, timeoutMilliseconds: CInt) throws(SystemError) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        let n = try check("poll") { Glibc.poll(&p, 1, timeoutMilliseconds) }
        return n > 0
    }

    public static let pollOut = Int16(POLLOUT)
    public static let pollIn = Int16(POLLIN)

    public static func getpid() -> CInt { Glibc.getpid() }

    public static func kill(_ pid: CInt, _ signal: CInt) { _ = Glibc.kill(pid, signal) }

    /// Sends `signal` to the main thread of process `pid` (its thread id is the pid): a signal
    /// for the whole process goes to any thread that does not block it, and only the thread
    /// it reaches has its blocking call interrupted.
    public static func signalMainThread(_ pid: CInt, _ signal: CInt) { _ = CDPosix_tgkill(pid, pid, signal) }

    /// Reaps one exited child without blocking: (pid, wait status), or nil when none is left.
    public static func reapChild() -> (pid: CInt, status: CInt)? {
        var status: CInt = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 { return (pid, status) }
            if pid < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Describes a wait status as a log fragment ("exit status 3", "signal 9 (SIGKILL)").
    public static func describeWaitStatus(_ status: CInt) -> String {
        if CDPosix_WIFEXITED(status) != 0 { return "exit status \(CDPosix_WEXITSTATUS(status))" }
        if CDPosix_WIFSIGNALED(status) != 0 {
            let sig = CDPosix_WTERMSIG(status)
            return "signal \(sig) (\(signalName(sig)))"
        }
        return "wait status \(status)"
    }

    public static func exitCode(ofWaitStatus status: CInt) -> CInt? {
        CDPosix_WIFEXITED(status) != 0 ? CDPosix_WEXITSTATUS(status) : nil
    }

    /// The signal that ended a process, from its wait status; nil when it exited by itself.
    public static func terminatingSignal(ofWaitStatus status: CInt) -> CInt? {
        CDPosix_WIFSIGNALED(status) != 0 ? CDPosix_WTERMSIG(status) : nil
    }

    public static func signalName(_ sig: CInt) -> String {
        switch sig {
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGQUIT: "SIGQUIT"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGHUP: "SIGHUP"
        case SIGPIPE: "SIGPIPE"
        case SIGUSR2: "SIGUSR2"
        default: "SIG\(sig)"
        }
    }

    // The signals keep their POSIX names.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGTERM = Glibc.SIGTERM
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGINT = Glibc.SIGINT
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGQUIT = Glibc.SIGQUIT
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGKILL = Glibc.SIGKILL
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGCHLD = Glibc.SIGCHLD
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGHUP = Glibc.SIGHUP
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGPIPE = Glibc.SIGPIPE
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGUSR2 = Glibc.SIGUSR2
    // swift-format-ignore: AlwaysUseLowerCamelCase
    public static let SIGUSR1 = Glibc.SIGUSR1

    /// Runs `body` on a detached thread of its own, with every signal blocked there (signals
    /// stay the event loop thread's to take).
    public static func startThread(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var all = sigset_t()
        var previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &previous)
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { context in
                Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, context)
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw SystemError(errno: rc, call: "pthread_create")
        }
        pthread_detach(thread)
    }

    /// Unblocks the signals the server handles: a parent may have started us with them blocked
    /// (the mask is inherited across exec), and a blocked SIGTERM would never stop us.
    public static func unblockServerSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGPIPE, SIGUSR1] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for s in [SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGUSR1] { signal(s, SIG_DFL) }
    }

    /// Ignores SIGPIPE in this process: a write to a gone peer returns EPIPE instead.
    /// Processes the app's subprocesses leave behind (a daemonized grandchild) become this
    /// process's children when their parent exits, as they would PID 1's, so the master reaps
    /// them whether or not it is PID 1.
    public static func becomeSubreaper() { _ = CDPosix_becomeSubreaper() }

    /// Forks a process that becomes the nearest subreaper's child rather than ours (the master's,
    /// for the --preload zygote): 0 in that process, its pid here. Only for a process with one
    /// thread.
    public static func forkDetached() throws(SystemError) -> CInt {
        let result = CDPosix_fork_detached()
        if result < 0 { throw SystemError(errno: -result, call: "fork") }
        return result
    }

    /// Puts `fd` at the number `target` (closing what was there) and closes `fd`.
    public static func move(_ fd: CInt, to target: CInt) throws(SystemError) {
        guard fd != target else { return }
        _ = try check("dup2") { Glibc.dup2(fd, target) }
        Glibc.close(fd)
    }

    /// Makes this process the leader of a process group of its own, as a spawned worker is (a
    /// terminal's Ctrl-C reaches only the master).
    public static func newProcessGroup() { _ = setpgid(0, 0) }

    /// Threads of this process (/proc/self/status), nil when it cannot be read.
    public static func threadCount() -> Int? {
        guard let status = readSmallFile("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Threads:") {
            return Int(String(line.dropFirst("Threads:".count).filter { $0 != " " && $0 != "\t" }))
        }
        return nil
    }

    public static func ignoreSIGPIPE() { _ = signal(SIGPIPE, SIG_IGN) }

    /// Writes all of `text` to a descriptor (stdout, stderr), retrying short writes.
    public static func writeAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = Glibc.poll(&p, 1, 1000)
                    continue
                }
                return
            }
            offset += n
        }
    }

    public static func writeAll(_ fd: CInt, _ text: String) {
        var text = text
        text.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
    }

    /// The path of this process's own executable.
    public static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func chdir(_ path: String) throws(SystemError) {
        if Glibc.chdir(path) != 0 { throw SystemError(errno: errno, call: "chdir(\(path))") }
    }

    /// A user's id and primary group, by name or number; nil when there is no such user (a
    /// number without a passwd entry has itself as its group).
    public static func user(_ name: String) -> (uid: UInt32, gid: UInt32, name: String?)? {
        if let pw = UInt32(name).map({ getpwuid($0) }) ?? getpwnam(name) {
            return (pw.pointee.pw_uid, pw.pointee.pw_gid, String(cString: pw.pointee.pw_name))
        }
        return UInt32(name).map { ($0, $0, nil) }
    }

    /// A group's id, by name or number; nil when there is no such group.
    public static func group(_ name: String) -> UInt32? {
        if let n = UInt32(name) { return n }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }

    /// Whether the process runs as root.
    public static var isRoot: Bool { geteuid() == 0 }
    public static var currentUser: UInt32 { getuid() }
    public static var currentGroup: UInt32 { getgid() }

    /// Switches the process to `uid` and `gid` for good (supplementary groups: the user's, or
    /// none without a name): groups first, then the group, then the user.
    public static func dropPrivileges(uid: UInt32, gid: UInt32, userName: String?) throws(SystemError) {
        let groups: CInt = userName.map { initgroups($0, gid) } ?? setgroups(0, nil)
        if groups != 0 { throw SystemError(errno: errno, call: "setgroups") }
        if setgid(gid) != 0 { throw SystemError(errno: errno, call: "setgid(\(gid))") }
        if setuid(uid) != 0 { throw SystemError(errno: errno, call: "setuid(\(uid))") }
    }

    public static func isFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Every environment variable, as NAME=VALUE pairs split at the first '='.
    public static func environmentVariables() -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        var entry = Glibc.environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                result.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
            }
            entry += 1
        }
        return result
    }

    public static func unsetenv(_ name: String) { _ = Glibc.unsetenv(name) }

    /// Points `target` (1: stdout, 2: stderr) at the file `path`, opened for appending (made
    /// 0644 if missing): what is written to the descriptor goes to the file from then on, in this
    /// process and those it starts.
    public static func redirect(_ target: CInt, toAppend path: String) throws(SystemError) {
        let fd = try check("open") { Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
        defer { Glibc.close(fd) }
        _ = try check("dup2") { Glibc.dup2(fd, target) }
    }

    /// Sends `text` as one datagram to the unix socket at `path` (`@name`: the abstract
    /// namespace), as sd_notify does; false when it could not be sent.
    public static func sendDatagram(_ text: String, toUnixSocket path: String) -> Bool {
        let fd = Glibc.socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let sent = withUnsafePointer(to: &address) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                Array(text.utf8).withUnsafeBytes {
                    Glibc.sendto(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL), sa, length)
                }
            }
        }
        return sent >= 0
    }

    public static func getenv(_ name: String) -> String? {
        guard let p = Glibc.getenv(name) else { return nil }
        return String(cString: p)
    }

    public static func numberOfCPUs() -> Int { max(1, Int(sysconf(CInt(_SC_NPROCESSORS_ONLN)))) }

    /// A process's resident memory in bytes (this one's by default; the second field of statm, in pages);
    /// nil when it cannot be read.
    public static func residentBytes(pid: CInt? = nil) -> Int? {
        guard let text = readSmallFile("/proc/\(pid.map(String.init) ?? "self")/statm") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(CInt(_SC_PAGESIZE)))
    }

    /// The text of a small file (/proc, /sys: up to 4 KiB), or nil when it cannot be read.
    public static func readSmallFile(_ path: String) -> String? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

#if canImport(Glibc)
    internal import Glibc
#endif

/// Time for timeouts and scoreboards (CLOCK_MONOTONIC) and for logs (CLOCK_REALTIME).
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point, never going back.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Seconds since the epoch (wall clock), for Date headers and log lines.
    @inline(__always)
    public static func wallSeconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int(ts.tv_sec)
    }
}

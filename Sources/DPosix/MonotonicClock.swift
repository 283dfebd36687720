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

    /// The broken-down UTC time of `seconds` since the epoch:
    /// (year, month 1-12, day, hour, minute, second, weekday 0=Sunday).
    public static func utc(_ seconds: Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, weekday: Int) {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        return (Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(tm.tm_wday))
    }
}

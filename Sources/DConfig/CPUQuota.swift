/// How many CPUs a container may use. Containers limit CPU time through cgroups (v2's
/// `cpu.max`, v1's `cpu.cfs_quota_us` over `cpu.cfs_period_us`), not through the CPUs `nproc`
/// counts: a pod limited to 2 CPUs on a 64-core node sees 64. The default worker count follows
/// the limit, rounded up. Pure: the files come from `read`, so tests give fixture trees.
public enum CPUQuota {
    /// The CPUs the cgroups of this process allow, or nil when none limits them. `read` returns
    /// a file's text by absolute path (`/proc/self/cgroup`, `/sys/fs/cgroup/...`), nil when it
    /// cannot be read. The lowest limit on the cgroup's path up to the root counts (a parent's
    /// limit binds its children).
    public static func limit(read: (String) -> String?) -> Int? {
        guard let membership = read("/proc/self/cgroup") else { return nil }
        var limits: [Int] = []
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ",")
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                // cgroup v2: one hierarchy under /sys/fs/cgroup.
                for dir in ancestors(path) {
                    if let text = read("/sys/fs/cgroup\(dir)/cpu.max"), let n = parseCPUMax(text) { limits.append(n) }
                }
            } else if controllers.contains("cpu") {
                // cgroup v1: the cpu controller's own hierarchy.
                let mount = "/sys/fs/cgroup/" + controllers.joined(separator: ",")
                for base in [mount, "/sys/fs/cgroup/cpu"] {
                    for dir in ancestors(path) {
                        if let quota = read("\(base)\(dir)/cpu.cfs_quota_us"),
                            let period = read("\(base)\(dir)/cpu.cfs_period_us"),
                            let n = parseCFS(quota: quota, period: period)
                        {
                            limits.append(n)
                        }
                    }
                }
            }
        }
        return limits.min()
    }

    /// v2's `cpu.max`: `max 100000` (no limit) or `QUOTA PERIOD` in microseconds; the CPUs that
    /// allows, rounded up (150000 100000 is 2).
    public static func parseCPUMax(_ text: String) -> Int? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2, fields[0] != "max", let quota = Int(fields[0]), let period = Int(fields[1]),
            quota > 0, period > 0
        else { return nil }
        return (quota + period - 1) / period
    }

    /// v1's `cpu.cfs_quota_us` (-1: no limit) over `cpu.cfs_period_us`, rounded up.
    public static func parseCFS(quota: String, period: String) -> Int? {
        guard let q = Int(quota.trimmingWhitespace), let p = Int(period.trimmingWhitespace), q > 0, p > 0 else {
            return nil
        }
        return (q + p - 1) / p
    }

    /// `/a/b` → `/a/b`, `/a`, `` (the root, spelled empty so that paths join as `root + dir`).
    static func ancestors(_ path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        var out: [String] = []
        while true {
            out.append(parts.isEmpty ? "" : "/" + parts.joined(separator: "/"))
            if parts.isEmpty { break }
            parts.removeLast()
        }
        return out
    }
}

extension String {
    fileprivate var trimmingWhitespace: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return self[first...last]
    }
}

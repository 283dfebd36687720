import DConfig
import Foundation
import Testing

/// The CPU limit of a container's cgroups, read from fixture trees (Tests/Fixtures/cgroup), which
/// the default worker count follows.
@Suite struct CPUQuotaTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/cgroup").path

    static func limit(_ tree: String) -> Int? {
        CPUQuota.limit { path in try? String(contentsOfFile: "\(fixtures)/\(tree)\(path)", encoding: .utf8) }
    }

    @Test func cgroupV2() {
        #expect(Self.limit("v2-limited") == 2, "150000 100000 is 1.5 CPUs, rounded up")
        #expect(Self.limit("v2-parent") == 2, "the pod's slice limits its container, whose own is max")
        #expect(Self.limit("v2-unlimited") == nil)
    }

    @Test func cgroupV1() {
        #expect(Self.limit("v1-limited") == 3, "the container's quota; its parent's -1 is no limit")
    }

    @Test func noCgroupFiles() {
        #expect(Self.limit("missing") == nil)
    }

    @Test func parsing() {
        #expect(CPUQuota.parseCPUMax("max 100000\n") == nil)
        #expect(CPUQuota.parseCPUMax("100000 100000\n") == 1)
        #expect(CPUQuota.parseCPUMax("50000 100000") == 1)
        #expect(CPUQuota.parseCPUMax("6400000 100000") == 64)
        #expect(CPUQuota.parseCPUMax("garbage") == nil)
        #expect(CPUQuota.parseCFS(quota: "-1\n", period: "100000\n") == nil)
        #expect(CPUQuota.parseCFS(quota: "250000\n", period: "100000\n") == 3)
    }

    /// The default worker count is the lower of the CPUs and the limit.
    @Test func defaultWorkers() {
        struct Host: ConfigHost {
            var processorCount: Int
            var cpuLimit: Int?
            func environment(_ name: String) -> String? { nil }
            func isDirectory(_ path: String) -> Bool { true }
            func realpath(_ path: String) -> String? { path }
        }
        #expect(ServerConfiguration(host: Host(processorCount: 64, cpuLimit: 2)).workers.count == 2)
        #expect(ServerConfiguration(host: Host(processorCount: 64, cpuLimit: nil)).workers.count == 64)
        #expect(ServerConfiguration(host: Host(processorCount: 2, cpuLimit: 8)).workers.count == 2)
    }
}

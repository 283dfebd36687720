/// IMF-fixdate strings ("Sun, 06 Nov 1994 08:49:37 GMT") for Date headers and the common
/// log format's "[06/Nov/1994:08:49:37 +0000]", cached for the current second.
public struct HTTPDate: Sendable {
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public private(set) var second = -1
    public private(set) var imfFixdate: [UInt8] = []
    public private(set) var commonLog: [UInt8] = []

    public init() {}

    /// Brings the cached strings to `second` (seconds since the epoch); `utc` breaks a second
    /// down into calendar fields.
    public mutating func update(
        second: Int,
        utc: (Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, weekday: Int)
    ) {
        guard second != self.second else { return }
        self.second = second
        let t = utc(second)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let time = "\(two(t.hour)):\(two(t.minute)):\(two(t.second))"
        imfFixdate = Array("\(Self.days[t.weekday]), \(two(t.day)) \(Self.months[t.month - 1]) \(t.year) \(time) GMT".utf8)
        commonLog = Array("\(two(t.day))/\(Self.months[t.month - 1])/\(t.year):\(time) +0000".utf8)
    }
}

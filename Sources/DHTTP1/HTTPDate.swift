/// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate for any time ("Sun, 06 Nov 1994 08:49:37 GMT",
/// for Date, Last-Modified), parsing of the three formats a recipient must accept, and the
/// current second's Date value and common-log timestamp ("[06/Nov/1994:08:49:37 +0000]"),
/// cached, since every response needs them.
public struct HTTPDate: Sendable {
    public private(set) var second = Int.min
    public private(set) var imfFixdate: [UInt8] = []
    public private(set) var commonLog: [UInt8] = []
    /// "1994-11-06T08:49:37Z" (the JSON access log's).
    public private(set) var iso8601: [UInt8] = []

    public init() {}

    /// Brings the cached strings to `second` (seconds since the epoch).
    public mutating func update(second: Int) {
        guard second != self.second else { return }
        self.second = second
        let t = Self.components(second)
        let time = "\(Self.two(t.hour)):\(Self.two(t.minute)):\(Self.two(t.second))"
        imfFixdate = Array(Self.format(second).utf8)
        commonLog = Array("\(Self.two(t.day))/\(Self.months[t.month - 1])/\(t.year):\(time) +0000".utf8)
        iso8601 = Array("\(t.year)-\(Self.two(t.month))-\(Self.two(t.day))T\(time)Z".utf8)
    }

    static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days since 1970-01-01 of a civil date (proleptic Gregorian).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// A time's calendar fields, in UTC.
    static func components(
        _ seconds: Int
    ) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, weekday: Int) {
        let d = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - d * 86400
        let c = civil(d)
        return (c.year, c.month, c.day, rest / 3600, rest / 60 % 60, rest % 60, ((d % 7) + 7) % 7)
    }

    static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// IMF-fixdate.
    public static func format(_ seconds: Int) -> String {
        let t = components(seconds)
        return
            "\(days[t.weekday]), \(two(t.day)) \(months[t.month - 1]) \(t.year) \(two(t.hour)):\(two(t.minute)):\(two(t.second)) GMT"
    }

    /// Seconds since the epoch, or nil when `text` is none of IMF-fixdate
    /// ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") or asctime
    /// ("Sun Nov  6 08:49:37 1994").
    public static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var day = 0
        var month = 0
        var year = 0
        var time = ""
        if parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" {
            guard let d = Int(parts[1]), let y = Int(parts[3]), let m = months.firstIndex(of: parts[2]) else {
                return nil
            }
            (day, month, year, time) = (d, m + 1, y, parts[4])
        } else if parts.count == 4, parts[0].hasSuffix(","), parts[3] == "GMT" {
            let dmy = parts[1].split(separator: "-").map(String.init)
            guard dmy.count == 3, let d = Int(dmy[0]), let y2 = Int(dmy[2]), let m = months.firstIndex(of: dmy[1])
            else { return nil }
            (day, month, year, time) = (d, m + 1, y2 < 70 ? 2000 + y2 : (y2 < 100 ? 1900 + y2 : y2), parts[2])
        } else if parts.count == 5 {
            guard let d = Int(parts[2]), let y = Int(parts[4]), let m = months.firstIndex(of: parts[1]) else {
                return nil
            }
            (day, month, year, time) = (d, m + 1, y, parts[3])
        } else {
            return nil
        }
        let hms = time.split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3, (1...31).contains(day), (0...23).contains(hms[0]), (0...59).contains(hms[1]),
            (0...60).contains(hms[2])
        else {
            return nil
        }
        return days(year: year, month: month, day: day) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
    }
}

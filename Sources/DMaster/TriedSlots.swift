/// The slots a hand-off has tried: a word of bits for the first 64 (no allocation, no hashing
/// for every connection), a set beyond.
struct TriedSlots {
    var low: UInt64 = 0
    var high: Set<Int> = []

    /// Adds `slot`; false when it was tried already.
    mutating func insert(_ slot: Int) -> Bool {
        if slot < 64 {
            let bit = UInt64(1) << UInt64(slot)
            if low & bit != 0 { return false }
            low |= bit
            return true
        }
        return high.insert(slot).inserted
    }
}

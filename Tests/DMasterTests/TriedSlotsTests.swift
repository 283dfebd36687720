import Testing

@testable import DMaster

@Suite struct TriedSlotsTests {
    /// Each slot is new once, below 64 (the bit word) and beyond (the set).
    @Test func eachSlotOnce() {
        var tried = TriedSlots()
        let slots = [0, 3, 63, 64, 200]
        let first = slots.map { tried.insert($0) }
        let again = slots.map { tried.insert($0) }
        #expect(first == [true, true, true, true, true])
        #expect(again == [false, false, false, false, false])
        let another = tried.insert(1)
        #expect(another)
    }
}

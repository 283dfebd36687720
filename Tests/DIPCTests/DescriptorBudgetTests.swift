import DIPC
import Testing

@Suite struct DescriptorBudgetTests {
    /// 64 descriptors are kept for the application, or a quarter of a small limit.
    @Test func reserve() {
        #expect(DescriptorBudget(limit: 1_048_576, baseline: 10).reserve == 64)
        #expect(DescriptorBudget(limit: 256, baseline: 10).reserve == 64)
        #expect(DescriptorBudget(limit: 200, baseline: 10).reserve == 50)
    }

    /// Room: the limit less the worker's own, the reserve and what it holds; never negative.
    @Test func room() {
        let budget = DescriptorBudget(limit: 200, baseline: 10)
        #expect(budget.room(held: 0) == 140)
        #expect(budget.room(held: 139) == 1)
        #expect(budget.room(held: 140) == 0)
        #expect(budget.room(held: 500) == 0)
    }

    /// Taking connections off the channel leaves the admission limit where it is (received and
    /// held rise together); each descriptor freed raises it by one; a full worker's limit is
    /// what it has received.
    @Test func admissionLimitMovesWhenDescriptorsAreFreed() {
        let budget = DescriptorBudget(limit: 200, baseline: 10)
        #expect(budget.admissionLimit(received: 0, held: 0) == 140)
        #expect(budget.admissionLimit(received: 16, held: 16) == 140)
        #expect(budget.admissionLimit(received: 16, held: 15) == 141)
        #expect(budget.admissionLimit(received: 300, held: 140) == 300)
    }

    /// Descriptors found open beyond those counted (at a truncated hand-off) join the baseline
    /// until a recount finds them closed; the baseline never drops below the start-up count.
    @Test func measuredBaseline() {
        var budget = DescriptorBudget(limit: 200, baseline: 10)
        #expect(!budget.needsRecount)
        budget.measured(open: 200, held: 20)
        #expect(budget.baseline == 180 && budget.needsRecount && budget.room(held: 20) == 0)
        budget.measured(open: 100, held: 20)
        #expect(budget.baseline == 80 && budget.needsRecount && budget.room(held: 20) == 50)
        budget.measured(open: 25, held: 20)
        #expect(budget.baseline == 10 && !budget.needsRecount && budget.room(held: 20) == 120)
    }
}

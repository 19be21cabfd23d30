import KilnExecutors
import KilnServe
import KilnTensor
import Testing

@Suite struct WorkerPoolBudgetTests {
    @Test func sharesBecomeThePoolsThreadBudgets() {
        let text = WorkerPool(threadCount: 2), encoder = WorkerPool(threadCount: 2), image = WorkerPool(threadCount: 2)
        let budget = WorkerPoolBudget(cores: 2, text: [text, encoder, text], image: [image])
        #expect(budget.cores == 2)
        budget.apply(ThreadShares(text: 1, image: 2))
        #expect(text.threadBudget == 1 && encoder.threadBudget == 1 && image.threadBudget == 2)
        budget.apply(ThreadShares(text: 2, image: 1))
        #expect(text.threadBudget == 2 && encoder.threadBudget == 2 && image.threadBudget == 1)
        // A share beyond a pool's size is the whole pool.
        budget.apply(ThreadShares(text: 8, image: 8))
        #expect(text.threadBudget == 2 && image.threadBudget == 2)
    }
}

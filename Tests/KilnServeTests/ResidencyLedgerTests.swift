import KilnServe
import Testing

@Suite("The residency ledger: budget and least-recently-used eviction")
struct ResidencyLedgerTests {
    private let mib = 1 << 20

    private func ledger(_ costs: [(String, Int)], budget: Int) throws -> ResidencyLedger {
        try ResidencyLedger(models: costs.map { (id: $0.0, costBytes: $0.1 * mib) }, budgetBytes: budget * mib)
    }

    /// Loads `id` as the ledger decides, checking that it needs no eviction.
    private func loadFreely(_ ledger: inout ResidencyLedger, _ id: String) {
        #expect(ledger.decide(for: id) { _ in true } == .load(evicting: []))
        ledger.beginLoad(id)
        ledger.finishLoad(id, succeeded: true)
    }

    @Test func withoutABudgetEveryModelLoadsBesideTheOthers() throws {
        var book = try ledger([("a", 100), ("b", 200), ("c", 300)], budget: 0)
        for id in ["a", "b", "c"] { loadFreely(&book, id) }
        #expect(book.residentBytes == 600 * mib)
        #expect(book.decide(for: "b") { _ in true } == .ready)
    }

    @Test func theLeastRecentlyUsedIdleModelIsEvictedFirst() throws {
        var book = try ledger([("a", 100), ("b", 100), ("c", 100)], budget: 250)
        loadFreely(&book, "a")
        loadFreely(&book, "b")
        // a used after b: b is now the least recently used.
        book.lease("b")
        book.release("b")
        book.lease("a")
        book.release("a")
        #expect(book.decide(for: "c") { _ in true } == .load(evicting: ["b"]))
        book.lease("b")
        book.release("b")
        #expect(book.decide(for: "c") { _ in true } == .load(evicting: ["a"]))
    }

    @Test func aLeasedOrBusyModelIsNeverEvicted() throws {
        var book = try ledger([("a", 100), ("b", 100), ("c", 100)], budget: 250)
        loadFreely(&book, "a")
        loadFreely(&book, "b")
        book.lease("a")
        // a is leased, b has jobs in flight: nothing can go, c waits.
        #expect(book.decide(for: "c") { $0 != "b" } == .wait)
        // b idle again: it goes, though a is older.
        #expect(book.decide(for: "c") { _ in true } == .load(evicting: ["b"]))
        book.release("a")
        #expect(book.decide(for: "c") { $0 == "a" } == .load(evicting: ["a"]))
    }

    @Test func evictsAsManyAsNeededOldestFirst() throws {
        var book = try ledger([("a", 100), ("b", 100), ("c", 100), ("big", 250)], budget: 300)
        for id in ["a", "b", "c"] { loadFreely(&book, id) }
        for id in ["c", "a", "b"] {
            book.lease(id)
            book.release(id)
        }
        // 300 resident, 250 needed: three must go, in the order c, a, b.
        #expect(book.decide(for: "big") { _ in true } == .load(evicting: ["c", "a", "b"]))
        // With b busy, evicting c and a leaves 100 + 250 > 300: wait.
        #expect(book.decide(for: "big") { $0 != "b" } == .wait)
    }

    @Test func aModelLoadingOrUnloadingCountsAgainstTheBudgetAndMakesOthersWait() throws {
        var book = try ledger([("a", 100), ("b", 100), ("c", 100)], budget: 200)
        loadFreely(&book, "a")
        book.beginLoad("b")
        #expect(book.residentBytes == 200 * mib)
        #expect(book.decide(for: "b") { _ in true } == .wait)
        // a is the only loaded model: c may evict it.
        #expect(book.decide(for: "c") { _ in true } == .load(evicting: ["a"]))
        book.beginUnload("a")
        #expect(book.residentBytes == 200 * mib, "an unloading model still holds memory")
        #expect(book.decide(for: "a") { _ in true } == .wait)
        book.finishUnload("a")
        book.finishLoad("b", succeeded: true)
        #expect(book.residentBytes == 100 * mib)
        #expect(book.entry("a")?.phase == .unloaded)
    }

    @Test func theModelsToDrainAreTheOldestLoadedOnesBusyOrNot() throws {
        var book = try ledger([("a", 100), ("b", 100), ("c", 100), ("big", 150)], budget: 300)
        for id in ["a", "b", "c"] { loadFreely(&book, id) }
        book.lease("b")  // the oldest, and leased: drained all the same
        for id in ["c", "a"] {
            book.lease(id)
            book.release(id)
        }
        #expect(book.modelsToDrain(for: "big") == ["b", "c"])
        #expect(book.modelsToDrain(for: "a").isEmpty, "loaded already")
        book.release("b")
        book.beginUnload("b")
        book.finishUnload("b")
        #expect(book.modelsToDrain(for: "b").isEmpty, "fits without eviction")
    }

    @Test func aFailedLoadLeavesTheModelUnloaded() throws {
        var book = try ledger([("a", 100)], budget: 150)
        book.beginLoad("a")
        book.finishLoad("a", succeeded: false)
        #expect(book.entry("a")?.phase == .unloaded)
        #expect(book.residentBytes == 0)
        #expect(book.decide(for: "a") { _ in true } == .load(evicting: []))
    }

    @Test func configurationErrorsAreRefused() {
        #expect(throws: ResidencyError.duplicateModel("a")) {
            try ResidencyLedger(models: [(id: "a", costBytes: 1), (id: "a", costBytes: 2)], budgetBytes: 0)
        }
        #expect(throws: ResidencyError.exceedsBudget(model: "big", costBytes: 300, budgetBytes: 200)) {
            try ResidencyLedger(models: [(id: "big", costBytes: 300)], budgetBytes: 200)
        }
        #expect(throws: ResidencyError.invalidBudget(-1)) {
            try ResidencyLedger(models: [(id: "a", costBytes: 1)], budgetBytes: -1)
        }
    }
}

@Suite("The residency ledger across reloads: models added, retired and changed")
struct ResidencyLedgerReloadTests {
    private let mib = 1 << 20

    private func loaded(_ ids: [String], budget: Int) throws -> ResidencyLedger {
        var book = try ResidencyLedger(models: ids.map { (id: $0, costBytes: 100 * mib) }, budgetBytes: budget * mib)
        for id in ids {
            book.beginLoad(id)
            book.finishLoad(id, succeeded: true)
        }
        return book
    }

    @Test func anAddedModelIsListedUnloadedAndMustFitTheBudget() throws {
        var book = try loaded(["a"], budget: 250)
        try book.add("b", costBytes: 100 * mib)
        #expect(book.modelIDs == ["a", "b"])
        #expect(book.entry("b")?.phase == .unloaded)
        #expect(book.residentBytes == 100 * mib)
        #expect(throws: ResidencyError.exceedsBudget(model: "huge", costBytes: 300 * mib, budgetBytes: 250 * mib)) {
            try book.add("huge", costBytes: 300 * mib)
        }
        #expect(!book.isListed("huge"))
    }

    @Test func aRetiredModelIsUnlistedAtOnceAndForgottenOnceUnloaded() throws {
        var book = try loaded(["a", "b"], budget: 0)
        book.lease("a")
        book.retire("a")
        #expect(book.modelIDs == ["b"])
        #expect(!book.isListed("a"))
        // Still resident (its request runs) and counted until unloaded.
        #expect(book.residentBytes == 200 * mib)
        #expect(book.staleIdleModels { _ in true }.isEmpty, "a leased model is not unloaded")
        #expect(book.hasStaleModels)
        book.release("a")
        #expect(book.staleIdleModels { _ in false }.isEmpty, "a model with work in flight is not unloaded")
        #expect(book.staleIdleModels { _ in true } == ["a"])
        book.beginUnload("a")
        book.finishUnload("a")
        #expect(book.entry("a") == nil)
        #expect(book.residentBytes == 100 * mib)
        #expect(!book.hasStaleModels)
    }

    @Test func anUnloadedModelRetiredIsForgottenAtOnce() throws {
        var book = try ResidencyLedger(models: [(id: "a", costBytes: mib), (id: "b", costBytes: mib)], budgetBytes: 0)
        book.retire("b")
        #expect(book.entries.map(\.id) == ["a"])
    }

    @Test func aChangedModelKeepsItsCostUntilUnloadedThenTakesTheNewOne() throws {
        var book = try loaded(["a", "b"], budget: 300)
        try book.change("a", costBytes: 150 * mib)
        #expect(book.modelIDs == ["a", "b"], "a changed model stays listed")
        #expect(book.entry("a")?.costBytes == 100 * mib)
        #expect(book.residentBytes == 200 * mib)
        #expect(book.staleIdleModels { _ in true } == ["a"])
        book.beginUnload("a")
        book.finishUnload("a")
        #expect(book.entry("a")?.costBytes == 150 * mib)
        #expect(book.entry("a")?.replacementCostBytes == nil)
        #expect(book.fitsWithoutEviction("a"))
        // A change of an unloaded model takes effect at once.
        try book.change("a", costBytes: 120 * mib)
        #expect(book.entry("a")?.costBytes == 120 * mib)
        #expect(!book.hasStaleModels)
    }

    @Test func aModelRemovedAndAddedBackWhileResidentReloadsFromTheNewFile() throws {
        var book = try loaded(["a"], budget: 0)
        book.lease("a")
        book.retire("a")
        try book.add("a", costBytes: 50 * mib)
        #expect(book.modelIDs == ["a"])
        #expect(book.entry("a")?.retired == false)
        #expect(book.entry("a")?.replacementCostBytes == 50 * mib)
        book.release("a")
        #expect(book.staleIdleModels { _ in true } == ["a"])
    }
}

@Suite("The residency ledger with pinned models: image and embedding models count against the budget")
struct ResidencyLedgerPinnedTests {
    private let mib = 1 << 20

    @Test func pinnedBytesAreAlwaysResidentAndLeaveTheRestToTheLanguageModels() throws {
        var book = try ResidencyLedger(
            models: ["a", "b"].map { (id: $0, costBytes: 100 * mib) }, budgetBytes: 250 * mib,
            pinned: [.init(id: "embedder", costBytes: 90 * mib)])
        #expect(book.pinnedBytes == 90 * mib)
        #expect(book.residentBytes == 90 * mib, "nothing loaded yet: the pinned model alone")
        #expect(book.modelIDs == ["a", "b"], "pinned models are not the residency's to list")
        #expect(book.decide(for: "a") { _ in true } == .load(evicting: []))
        book.beginLoad("a")
        book.finishLoad("a", succeeded: true)
        #expect(book.residentBytes == 190 * mib)
        // a and b would fit the 250 MiB together (200), but not beside the 90 pinned.
        #expect(!book.fitsWithoutEviction("b"))
        #expect(book.decide(for: "b") { _ in true } == .load(evicting: ["a"]))
        #expect(book.modelsToDrain(for: "b") == ["a"])
    }

    @Test func aModelThatCannotFitBesideThePinnedOnesIsRefused() throws {
        let pinned: [ResidencyLedger.PinnedModel] = [.init(id: "image", costBytes: 60 * mib), .init(id: "embedder", costBytes: 40 * mib)]
        #expect(throws: ResidencyError.exceedsBudget(model: "a", costBytes: 120 * mib, budgetBytes: 100 * mib)) {
            try ResidencyLedger(models: [(id: "a", costBytes: 120 * mib)], budgetBytes: 200 * mib, pinned: pinned)
        }
        #expect(throws: ResidencyError.pinnedExceedBudget(pinnedBytes: 100 * mib, budgetBytes: 100 * mib)) {
            try ResidencyLedger(models: [(id: "a", costBytes: mib)], budgetBytes: 100 * mib, pinned: pinned)
        }
        #expect(throws: ResidencyError.duplicateModel("image")) {
            try ResidencyLedger(models: [(id: "image", costBytes: mib)], budgetBytes: 0, pinned: pinned)
        }
        // A reload: a new file over what the pinned models leave, or named like one of them, is refused.
        var book = try ResidencyLedger(models: [(id: "a", costBytes: mib)], budgetBytes: 200 * mib, pinned: pinned)
        #expect(throws: ResidencyError.exceedsBudget(model: "b", costBytes: 101 * mib, budgetBytes: 100 * mib)) {
            try book.add("b", costBytes: 101 * mib)
        }
        #expect(throws: ResidencyError.duplicateModel("embedder")) { try book.add("embedder", costBytes: mib) }
        // Without a budget, pinned models only add to the count.
        let free = try ResidencyLedger(models: [(id: "a", costBytes: 500 * mib)], budgetBytes: 0, pinned: pinned)
        #expect(free.fitsWithoutEviction("a"))
    }
}

/// The quality-of-service step of an iteration (see `ComputeSharing`): once work has been admitted
/// and ended, the scheduler tells the engines' pools how many threads each side may use until the
/// next change. Runs with `iterationLock` held.
extension Scheduler {
    /// Whether latency work (text sequences, embedding jobs) holds the scheduler thread.
    var isTextBusy: Bool { !running.isEmpty || !runningEmbeddings.isEmpty }

    /// Whether image generations run beside the iterations (on the image lane), not inside them.
    var isImageBusyBesideText: Bool { imageLane.overlaps && !runningImages.isEmpty }

    /// The shares the policy gives now (every core to each side without a budget to apply them).
    var currentThreadShares: ThreadShares {
        settings.computeSharing.shares(
            textBusy: isTextBusy, imageBusy: isImageBusyBesideText, cores: threadBudget?.cores ?? 1,
            imageThreadsBesideText: settings.imageThreadsBesideText)
    }

    /// Applies the policy's shares when they differ from the last applied.
    func updateThreadShares() {
        guard let budget = threadBudget else { return }
        let shares = currentThreadShares
        guard shares != appliedThreadShares else { return }
        budget.apply(shares)
        appliedThreadShares = shares
    }
}

/// How the scheduler shares the cores between text and image work while both run at once: the
/// quality-of-service policy of a server that streams tokens beside denoising steps.
///
/// Text (tokens and embeddings, on the scheduler thread) is latency work: a client watches every
/// token. An image step is throughput work: it takes tens of milliseconds or more whatever it is
/// given. With the image lane overlapping text (`SchedulerSettings.imageStepsOverlapText`), both
/// engines run their kernels on worker pools sized to the machine; left alone they ask for twice
/// the cores there are, and each token waits for kernels of the image to leave a core (measured on
/// 2 cores: text inter-token p99 about 2× its value alone, `Docs/benchmarks.md`).
///
/// - `textFirst` (the default): while text and an image run at once, the image's kernels keep to
///   `imageThreadsBesideText` threads (by default half the cores, at least one) and text's to the
///   cores that leaves (at least one), so that neither waits for a core; whichever runs alone
///   has every core. Shares are thread budgets of the engines' own worker pools (`ThreadBudget`):
///   they change which threads do a kernel's parts, never the parts, so results do not change.
/// - `off`: every engine uses every core whatever else runs (the operating system shares them).
public enum ComputeSharing: String, Sendable, CaseIterable {
    case textFirst = "text_first"
    case off

    /// The threads each side may use now, on a machine of `cores` cores.
    ///
    /// - Parameters:
    ///   - textBusy: text sequences (or embedding passes) are running.
    ///   - imageBusy: image generations are running beside text (on the image lane).
    ///   - imageThreadsBesideText: the image's share while both run; 0 = half the cores.
    public func shares(textBusy: Bool, imageBusy: Bool, cores: Int, imageThreadsBesideText: Int) -> ThreadShares {
        let cores = max(cores, 1)
        guard self == .textFirst, textBusy, imageBusy else { return ThreadShares(text: cores, image: cores) }
        let wanted = imageThreadsBesideText > 0 ? imageThreadsBesideText : cores / 2
        let image = min(max(wanted, 1), cores)
        return ThreadShares(text: max(cores - image, 1), image: image)
    }
}

/// Threads each side of the server's work may use, callers included (each at least 1).
public struct ThreadShares: Sendable, Equatable, CustomStringConvertible {
    /// For the language model and the embedding encoders (the scheduler thread's kernels).
    public var text: Int
    /// For the image pipelines (the image lane's kernels).
    public var image: Int

    public init(text: Int, image: Int) {
        self.text = text
        self.image = image
    }

    public var description: String { "text \(text), image \(image)" }
}

/// Where the scheduler's thread shares take effect: the engines' worker pools, behind a protocol
/// so that the scheduler knows no engine. Called from the scheduler thread only, when the shares
/// change; a share may exceed a pool's size (the pool keeps to its own).
public protocol ThreadBudget: AnyObject, Sendable {
    /// The cores the shares divide.
    var cores: Int { get }
    /// Lets text and image kernels use this many threads from their next dispatch on.
    func apply(_ shares: ThreadShares)
}

/// The embedding pass the scheduler is running: the executor's pass and, for each of its inputs,
/// the job and input index the vector belongs to. Touched only on the scheduler thread.
final class EmbeddingPassInFlight {
    let pass: any EmbeddingPass
    /// Parallel to the pass's inputs.
    let owners: [(embedding: ActiveEmbedding, input: Int)]
    let tokenCount: Int

    init(pass: any EmbeddingPass, owners: [(embedding: ActiveEmbedding, input: Int)], tokenCount: Int) {
        self.pass = pass
        self.owners = owners
        self.tokenCount = tokenCount
    }

    /// Whether every job with an input here has ended (cancelled, expired): the pass is moot.
    var isAbandoned: Bool { owners.allSatisfy { $0.embedding.hasEnded } }
}

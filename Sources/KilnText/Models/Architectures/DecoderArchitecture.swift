import KilnFormats

/// What one architecture file supplies, the way llama.cpp keeps one file per model in
/// `src/models/`: its own hyperparameters, its tensors, and its block as a composition of the
/// shared blocks in `Models/Blocks/` (norms, attention, feed-forward, residual additions).
///
/// A block reads the residual stream `[tokens × width]` in `model.scratch.hidden` and leaves it
/// there updated; the embedding before the first block and the output head after the last are
/// shared (`TransformerModel.forward`), shaped by the configuration.
protocol DecoderArchitecture {
    /// Reads the hyperparameters particular to the architecture into `configuration`, whose
    /// shared ones (widths, heads, RoPE, epsilon, vocabulary) are already read and checked.
    static func configure(_ configuration: inout TransformerConfiguration, file: GGUFFile) throws

    /// Loads the architecture's weights; every tensor is checked against the hyperparameters.
    static func loadWeights(from file: GGUFFile, configuration: TransformerConfiguration) throws -> TransformerWeights

    /// Runs block `layer` over every token of `batch`, writing its keys and values into `cache`.
    static func runBlock(_ layer: Int, of model: TransformerModel, batch: ForwardBatch, cache: PagedKVCache)
}

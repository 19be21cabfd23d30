import KilnLayers
import KilnTensor

/// One image of a `MADFormerPipeline` part way through: the band it is making, the DDIM step it has
/// reached in that band, the bands it has finished, and per stream (the caption; with guidance also
/// the empty caption) the autoregressive KV cache and conditioning. Everything a step needs is
/// allocated here when the generation starts.
///
/// A step is one DDIM step of one band; a band's first step also runs its slot through the
/// autoregressive layers. Not thread-safe: one owner (the engine loop) drives it.
public final class MADFormerGeneration: SteppedImageGeneration, @unchecked Sendable {
    public let request: ImageRequest
    /// DDIM steps per band (the request's `steps`).
    public let stepsPerBlock: Int
    public let blockCount: Int
    /// Image side S and pixel rows per band.
    public let size: Int
    public let blockRows: Int
    /// [3, S, S]: the starting noise (the seed's, or the request's `initialLatents`).
    public let noise: [Float]
    /// [3, S, S] in [-1, 1]: the finished bands; rows not yet made are 0 (mid-grey).
    public internal(set) var image: [Float]
    /// The band being made (`blockCount` once finished) and the DDIM steps it has taken.
    public internal(set) var blockIndex = 0
    public internal(set) var blockStep = 0

    /// [3, blockRows, S]: the band being denoised (x_t); between bands, the band just finished.
    var band: [Float]
    /// [3, blockRows, S]: the guided v of the latest step (unused without guidance).
    var guided: [Float]
    /// The same DDIM plan serves every band (DDIM keeps no state between steps).
    var sampler: DiffusionSampler
    /// [caption] without guidance, [caption, empty caption] with.
    let streams: [MADFormerStream]
    let guidanceScale: Float

    init(
        request: ImageRequest, model: MADFormerModel, noise: [Float], sampler: DiffusionSampler, streams: [MADFormerStream]
    ) {
        self.request = request
        stepsPerBlock = sampler.stepCount
        blockCount = model.blockCount
        size = model.sampleSize
        blockRows = model.blockRows
        self.noise = noise
        image = [Float](repeating: 0, count: noise.count)
        band = [Float](repeating: 0, count: 3 * model.blockRows * model.sampleSize)
        guided = band
        self.sampler = sampler
        self.streams = streams
        guidanceScale = Float(request.guidanceScale)
    }

    public var stepIndex: Int { blockIndex * stepsPerBlock + blockStep }
    public var stepCount: Int { blockCount * stepsPerBlock }
    /// 2 with classifier-free guidance (the empty caption's stream beside the caption's), else 1.
    public var streamCount: Int { streams.count }

    /// Stream `stream`'s conditioning z [tokensPerBlock, D] of the band being made (of the band
    /// just finished between bands); stream 0 is the caption's, 1 the empty caption's.
    public func condition(stream index: Int) -> [Float] {
        let stream = streams[index]
        return Array(stream.context[(stream.captionTokens * stream.cache.width)...])
    }

    /// Stream `stream`'s v [3, blockRows, S] at the latest step, before guidance.
    public func prediction(stream: Int) -> [Float] { streams[stream].prediction }

    /// `band` = band `block` of `full` [3, S, S].
    func loadBand(_ block: Int, from full: [Float]) {
        let plane = blockRows * size
        for channel in 0..<3 {
            let start = channel * size * size + block * plane
            for index in 0..<plane { band[channel * plane + index] = full[start + index] }
        }
    }

    /// Band `block` of `target` [3, S, S] = `band`.
    func storeBand(_ block: Int, into target: inout [Float]) {
        let plane = blockRows * size
        for channel in 0..<3 {
            let start = channel * size * size + block * plane
            for index in 0..<plane { target[start + index] = band[channel * plane + index] }
        }
    }
}

/// What one stream (the caption, or guidance's empty caption) of one generation carries from
/// band to band, allocated once: its KV cache, its context [c; z] and the autoregressive buffers.
final class MADFormerStream {
    let captionTokens: Int
    /// [captionTokens + tokensPerBlock, D]: the projected caption, then the current band's z.
    var context: [Float]
    /// [captionTokens + tokensPerBlock, D]: the autoregressive pass's hidden states.
    let hidden: UnsafeMutablePointer<Float>
    let cache: ARKeyValueCache
    let scratch: ARScratch
    /// [3, blockRows, S]: the model's v at the latest step, before guidance.
    var prediction: [Float]
    /// The stream's own scratch, so that streams may run side by side.
    let workspace: Workspace

    init(model: MADFormerModel, caption: [Float], captionTokens: Int) {
        let width = model.width, rows = captionTokens + model.tokensPerBlock
        self.captionTokens = captionTokens
        context = caption + [Float](repeating: 0, count: model.tokensPerBlock * width)
        hidden = .allocate(capacity: rows * width)
        let capacity = captionTokens + model.blockCount * model.tokensPerBlock
        cache = ARKeyValueCache(layers: model.arLayerCount, capacity: capacity, width: width)
        let innerWidth = model.arLayers.map(\.feedForwardIn.outFeatures).max() ?? width
        let heads = model.heads
        scratch = ARScratch(
            maxTokens: rows, width: width, innerWidth: innerWidth,
            attentionCount: SequenceAttention.scratchCount(
                queryCount: rows, keyCount: capacity, heads: heads, headDim: width / heads, context: model.kernels))
        prediction = [Float](repeating: 0, count: 3 * model.blockRows * model.sampleSize)
        workspace = Workspace(kernels: model.kernels, capacity: 1 << 12)
    }

    deinit { hidden.deallocate() }
}

/// What a text job asks of sampling: the parameters, and how many top alternatives to report
/// with each token's log-probability (nil: no log-probabilities). Travels through the scheduler
/// as `GenerationRequest.sampling`.
public struct TextSampling: Sendable {
    public var parameters: SamplingParameters
    public var topLogprobs: Int?

    public init(parameters: SamplingParameters, topLogprobs: Int? = nil) {
        self.parameters = parameters
        self.topLogprobs = topLogprobs
    }
}

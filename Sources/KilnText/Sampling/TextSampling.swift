/// What a text job asks of sampling: the parameters, how many top alternatives to report with
/// each token's log-probability (nil: no log-probabilities), and the constraint its tokens must
/// follow (nil: none). Travels through the scheduler as `GenerationRequest.sampling`.
public struct TextSampling: Sendable {
    public var parameters: SamplingParameters
    public var topLogprobs: Int?
    /// Where each sequence of the job gets its `TokenConstraint` (a grammar), if any.
    public var constraint: (any TokenConstraintSource)?

    public init(parameters: SamplingParameters, topLogprobs: Int? = nil, constraint: (any TokenConstraintSource)? = nil) {
        self.parameters = parameters
        self.topLogprobs = topLogprobs
        self.constraint = constraint
    }
}

/// How one sequence chooses its next token. Values are validated by `validate(vocabularySize:)`
/// before a `TokenSampler` is built from them.
///
/// The order of operations follows llama.cpp's default chain: logit bias, then penalties, then
/// top-k, typical-p, top-p, min-p, and temperature last; `temperature == 0` means greedy
/// (the highest adjusted logit, lowest token id on ties) and skips the filters.
public struct SamplingParameters: Sendable, Equatable {
    /// Divides the logits before the random draw; 0 selects greedy decoding.
    public var temperature: Float
    /// Keep only the `topK` most likely tokens; 0 disables.
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches `topP`; 1 disables.
    public var topP: Float
    /// Drop tokens whose probability is below `minP` times the most likely token's; 0 disables.
    public var minP: Float
    /// Locally typical sampling (Meister et al.): keep the tokens whose surprise is closest to
    /// the distribution's entropy until their probability reaches `typicalP`; 1 disables.
    public var typicalP: Float
    /// Multiplicative penalty on recently seen tokens (positive logits are divided by it,
    /// negative ones multiplied); 1 disables.
    public var repetitionPenalty: Float
    /// Subtracted once from the logit of every token seen in the penalty window; 0 disables.
    public var presencePenalty: Float
    /// Subtracted from a token's logit once per occurrence in the penalty window; 0 disables.
    public var frequencyPenalty: Float
    /// How many of the most recent tokens (prompt and generated) the three penalties look at.
    public var penaltyWindow: Int
    /// Added to the logits of the given token ids before anything else; −∞ bans a token.
    public var logitBias: [Int32: Float]
    /// The generator's seed; `nil` lets the caller pick one (for example from the clock).
    public var seed: UInt64?

    public init(
        temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
        typicalP: Float = 1, repetitionPenalty: Float = 1, presencePenalty: Float = 0,
        frequencyPenalty: Float = 0, penaltyWindow: Int = 64,
        logitBias: [Int32: Float] = [:], seed: UInt64? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.typicalP = typicalP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.penaltyWindow = penaltyWindow
        self.logitBias = logitBias
        self.seed = seed
    }

    /// Greedy decoding with no adjustments.
    public static let greedy = SamplingParameters(temperature: 0)

    /// True when the choice is the arg-max of the adjusted logits (no random draw happens).
    public var isGreedy: Bool { temperature == 0 }

    /// Bans `tokens` (a bias of −∞, whatever bias they had): llama.cpp's `ignore_eos` bans the
    /// end-of-generation tokens this way, so that they are never chosen.
    public mutating func ban(_ tokens: some Sequence<Int32>) {
        for token in tokens { logitBias[token] = -.infinity }
    }

    /// True when the logit bias only bans tokens (every bias −∞): greedy decoding then needs no
    /// adjusted copy of the logits unless the arg-max is a banned token.
    public var logitBiasOnlyBans: Bool { logitBias.values.allSatisfy { $0 == -.infinity } }

    /// True when any of the three history penalties would change a logit.
    public var hasPenalties: Bool {
        penaltyWindow > 0 && (repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0)
    }

    /// The largest penalty window accepted, so that a request cannot make a sampler allocate
    /// an unbounded history.
    public static let maximumPenaltyWindow = 1 << 20

    /// Checks every value; throws `SamplingError.invalidParameter` naming the first bad one.
    public func validate(vocabularySize: Int) throws {
        func fail(_ name: String, _ reason: String) -> SamplingError {
            .invalidParameter(name: name, reason: reason)
        }
        guard temperature.isFinite, temperature >= 0 else {
            throw fail("temperature", "must be a finite number ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else { throw fail("top_k", "must be ≥ 0, got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw fail("top_p", "must be in (0, 1], got \(topP)")
        }
        guard minP.isFinite, minP >= 0, minP <= 1 else {
            throw fail("min_p", "must be in [0, 1], got \(minP)")
        }
        guard typicalP.isFinite, typicalP > 0, typicalP <= 1 else {
            throw fail("typical_p", "must be in (0, 1], got \(typicalP)")
        }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw fail("repeat_penalty", "must be a finite number > 0, got \(repetitionPenalty)")
        }
        guard presencePenalty.isFinite else {
            throw fail("presence_penalty", "must be finite, got \(presencePenalty)")
        }
        guard frequencyPenalty.isFinite else {
            throw fail("frequency_penalty", "must be finite, got \(frequencyPenalty)")
        }
        guard penaltyWindow >= 0, penaltyWindow <= Self.maximumPenaltyWindow else {
            throw fail("penalty_window", "must be in 0…\(Self.maximumPenaltyWindow), got \(penaltyWindow)")
        }
        for (token, bias) in logitBias {
            guard token >= 0, Int(token) < vocabularySize else {
                throw fail("logit_bias", "token id \(token) is outside the vocabulary (0..<\(vocabularySize))")
            }
            guard bias.isFinite || bias == -.infinity else {
                throw fail("logit_bias", "bias for token \(token) must be finite or −∞, got \(bias)")
            }
        }
    }
}

/// Why a sampler could not be built or used.
public enum SamplingError: Error, Equatable, CustomStringConvertible {
    /// A parameter is out of its range; `name` uses the OpenAI/llama.cpp spelling.
    case invalidParameter(name: String, reason: String)
    /// The logits handed to the sampler do not have one entry per vocabulary token.
    case logitCountMismatch(expected: Int, actual: Int)
    /// The allowed-token mask has the wrong number of words, or allows no token at all.
    case invalidTokenMask(reason: String)

    public var description: String {
        switch self {
        case .invalidParameter(let name, let reason): return "invalid sampling parameter \(name): \(reason)"
        case .logitCountMismatch(let expected, let actual):
            return "sampler expected \(expected) logits, got \(actual)"
        case .invalidTokenMask(let reason): return "invalid allowed-token mask: \(reason)"
        }
    }
}

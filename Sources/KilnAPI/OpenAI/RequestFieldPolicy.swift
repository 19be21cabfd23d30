import KilnJSON

/// What Kiln does with a request member it does not implement. The rule: nothing that would
/// change the answer is silently ignored.
///
/// - Members Kiln implements are read and validated by each request type (`ChatCompletionRequest`,
///   `GenerationOptions`, `ImageGenerationRequest`, …).
/// - Members that cannot change what the model produces — bookkeeping (`metadata`, `store`),
///   routing hints (`service_tier`), latency hints (`prediction`, llama.cpp's `cache_prompt`) — are
///   accepted and have no effect: `withoutEffect`.
/// - Members OpenAI or llama.cpp define that would change the output and that Kiln does not
///   implement get a 400 naming the member and saying why (`unsupported`, code
///   `unsupported_parameter`). Some are accepted in their default form only (`modalities:
///   ["text"]`): `acceptDefaultOnly`.
/// - Any other member gets OpenAI's own answer, a 400 "Unrecognized request argument supplied",
///   here with the member as `param` and code `unrecognized_argument`.
///
/// A member whose value is `null` counts as absent everywhere.
enum RequestFieldPolicy {
    /// Members accepted on any endpoint without effect.
    static let withoutEffect: Set<String> = [
        "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options",
        "prediction", "cache_prompt", "moderation", "output_compression",
        "stream_options.include_obfuscation",
    ]

    /// Members that would change the output and that Kiln does not implement, with the reason.
    static let unsupported: [String: String] = {
        var reasons: [String: String] = [
            "functions": "function calling is not implemented",
            "function_call": "function calling is not implemented",
            "audio": "Kiln's language models answer in text only",
            "reasoning_effort": "the served models do not reason before answering",
            "verbosity": "the served models have no verbosity control",
            "web_search_options": "Kiln does not search the web",
            "n_predict": "use 'max_tokens'",
            "style": "Kiln's image models have no style control",
        ]
        let llamaCppSamplers = [
            "mirostat", "mirostat_tau", "mirostat_eta", "tfs_z", "dynatemp_range", "dynatemp_exponent",
            "xtc_probability", "xtc_threshold", "dry_multiplier", "dry_base", "dry_allowed_length",
            "dry_penalty_last_n", "top_n_sigma", "repeat_last_n", "penalty_last_n", "penalize_nl", "samplers", "n_probs",
        ]
        for name in llamaCppSamplers { reasons[name] = "Kiln does not implement this llama.cpp sampling option" }
        return reasons
    }()

    /// Throws the policy's 400 for a member no validator asked for, unless it has no effect.
    static func check(unread name: String) throws {
        if withoutEffect.contains(name) { return }
        if let reason = unsupported[name] { throw unsupportedParameter(name, reason) }
        throw APIError.invalid("Unrecognized request argument supplied: \(name)", param: name, code: "unrecognized_argument")
    }

    /// Reads `name`, which Kiln implements in its default form only: absent, `null` or a value
    /// `isDefault` accepts passes; anything else is a 400 saying `reason`.
    static func acceptDefaultOnly(
        _ name: String, in fields: RequestFields, reason: String, isDefault: (JSONValue) -> Bool
    ) throws {
        guard let value = fields.value(name), !isDefault(value) else { return }
        throw unsupportedParameter(name, reason)
    }

    private static func unsupportedParameter(_ name: String, _ reason: String) -> APIError {
        APIError.invalid("'\(name)' is not supported: \(reason)", param: name, code: "unsupported_parameter")
    }
}

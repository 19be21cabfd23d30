import CKilnKernels

/// Scaled dot-product attention of query heads over a language model's KV cache, with the
/// softmax computed online (running maximum and sum) span by span, so that no score buffer the
/// size of the context is needed: `begin`, then `accumulate` (or `accumulateInHalves`) for each
/// span of cache positions in order (e.g. each block of a paged cache), `merge` for key ranges
/// split between threads, and `finish`. `attendTiled` is llama.cpp's tiled body for long steps.
/// KilnText's `PagedAttention` and `LlamaCompatibleAttention` drive them.
public enum Attention {
    /// Floats of running state one query head needs: `2 + headDimension` (maximum, sum, accumulator).
    public static func stateSize(headDimension: Int) -> Int { 2 + headDimension }

    /// Starts a head's online softmax: `state` is `[stateSize(headDimension:)]` floats.
    public static func begin(state: UnsafeMutablePointer<Float>, headDimension: Int) {
        kiln_attention_begin(state, Int32(headDimension))
    }

    /// Folds `count` consecutive cache positions into a head's running state. Call it for each span
    /// (e.g. each block of a paged cache) in position order. The same positions split into the same
    /// spans give the same bits whatever else runs; another split differs only by rounding.
    ///
    /// - Parameters:
    ///   - query: `[headDimension]` floats of this head.
    ///   - keys, values: the first position's vector of this KV head; position `t` is
    ///     `positionStride · t` elements further.
    ///   - scale: multiplier of `q·k`, usually `1 / sqrt(headDimension)`.
    public static func accumulate(
        query: UnsafePointer<Float>, keys: UnsafeRawPointer, values: UnsafeRawPointer,
        elementType: KVElementType, positionStride: Int, count: Int, headDimension: Int,
        scale: Float, state: UnsafeMutablePointer<Float>
    ) {
        kiln_attention_span(
            query, keys, values, positionStride, Int32(count), Int32(headDimension), scale,
            elementType == .f16 ? 1 : 0, state)
    }

    /// As `accumulate` over a half cache, with the arithmetic of llama.cpp's CPU flash attention, so
    /// that the results match its bits: the query rounded to halves, `q·k` as `ggml_vec_dot_f16`
    /// forms it, one key at a time with libm's `expf`, and the value accumulator kept in halves,
    /// rounded after every key. Less accurate than `accumulate` (the accumulator's rounding is
    /// ~5e-4 relative per key); it exists to reproduce llama.cpp. Start with `begin`, end with
    /// `finish`, as for `accumulate`; spans may be split anywhere (the arithmetic is per key).
    ///
    /// - Parameters:
    ///   - keys, values: half floats; position `t` is `positionStride · t` elements further.
    ///   - headDimension: at most 256.
    public static func accumulateInHalves(
        query: UnsafePointer<Float>, keys: UnsafeRawPointer,
        values: UnsafeRawPointer, positionStride: Int, count: Int,
        headDimension: Int, scale: Float, state: UnsafeMutablePointer<Float>
    ) {
        precondition(headDimension <= 256, "Attention: head dimension above 256")
        kiln_attention_span_half(
            query, keys.assumingMemoryBound(to: UInt16.self),
            values.assumingMemoryBound(to: UInt16.self), positionStride, Int32(count),
            Int32(headDimension), scale, state)
    }

    /// Whether `attendTiled` takes this head dimension (at most 256).
    public static func supportsTiled(headDimension: Int) -> Bool {
        kiln_attention_tiled_supports(Int32(headDimension)) != 0
    }

    /// llama.cpp's tiled flash attention (what it runs for a step of 64 or more query tokens), for
    /// up to 64 queries of one head at consecutive positions, each over the keys up to its own
    /// position: key tiles of 64 positions aligned at 0, float scores and accumulator. A query's
    /// result does not depend on the other queries of the call.
    ///
    /// - Parameters:
    ///   - queries: query `i` (at position `firstPosition + i`) at `queries + i · queryStride`.
    ///   - rows: 1 ... 64 queries.
    ///   - keyBlocks, valueBlocks: half-float blocks of `blockSize` positions of this KV head;
    ///     position `t` at `keyBlocks[t / blockSize] + (t % blockSize) · positionStride` elements.
    ///   - output: query `i`'s `[headDimension]` result at `output + i · outputStride`.
    ///   - window: when positive, query `i` sees only the keys from its position − window + 1 on,
    ///     the others masked as llama.cpp's sliding-window mask masks them.
    public static func attendTiled(
        queries: UnsafePointer<Float>, queryStride: Int, rows: Int, firstPosition: Int,
        keyBlocks: UnsafePointer<UnsafePointer<UInt16>?>,
        valueBlocks: UnsafePointer<UnsafePointer<UInt16>?>, blockSize: Int,
        positionStride: Int, headDimension: Int, scale: Float,
        output: UnsafeMutablePointer<Float>, outputStride: Int, window: Int = 0
    ) {
        precondition(
            rows >= 1 && rows <= 64 && supportsTiled(headDimension: headDimension),
            "Attention.attendTiled: 1…64 rows and a head dimension up to 256")
        kiln_attention_tiled(
            queries, queryStride, Int32(rows), Int32(firstPosition), keyBlocks, valueBlocks,
            Int32(blockSize), positionStride, Int32(headDimension), scale, output, outputStride, Int32(window))
    }

    /// Folds the online-softmax state `part` (of a later key range) into `state`, as llama.cpp
    /// reduces the parts of a split key range. Both are `[stateSize(headDimension:)]` floats.
    public static func merge(_ part: UnsafePointer<Float>, into state: UnsafeMutablePointer<Float>, headDimension: Int) {
        kiln_attention_merge(state, part, Int32(headDimension))
    }

    /// Writes the head's output, `[headDimension]` floats: the accumulator over the sum.
    public static func finish(state: UnsafePointer<Float>, headDimension: Int, output: UnsafeMutablePointer<Float>) {
        kiln_attention_finish(state, Int32(headDimension), output)
    }
}

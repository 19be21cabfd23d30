import CKilnKernels

/// Products whose weight operand is packed once per batch (`PackingTeam`) instead of once per
/// product: the samples of a batch, each on its own thread, share one packing of every weight,
/// and a product split between threads splits the other operand only, so no thread packs a weight
/// panel another thread packs too. Results are bitwise those of `multiply`.
extension GEMM {
    /// Parts a weight's packing is cut into, for members of a team (or the pool's threads) to share.
    static func packingParts(panels: Int, context: KernelContext) -> Int { max(1, min(panels, 4 * context.width)) }

    /// C[m×n] = A[m×k] · W[k×n] for a weight W read as B (a linear layer's weight [out, in] read
    /// transposed); C's rows `ldc` apart (default n). Split by rows of C between the context's threads.
    public static func multiply(
        _ a: MatrixOperand, weight w: MatrixOperand, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int? = nil, accumulate: Bool = false, context: KernelContext
    ) {
        let ldc = ldc ?? n
        guard m > 0, n > 0 else { return }
        guard k > 0 else { return multiply(a, w, into: c, m: m, n: n, k: k, ldc: ldc, accumulate: accumulate, context: context) }
        let panels = (n + 15) / 16, parts = packingParts(panels: panels, context: context)
        let key = PackingTeam.Key(w.base, layout: [0, n, k, w.rowStride, w.columnStride, Int(w.type.kernelType)])
        PackingTeam.withPacking(
            key, floats: kiln_gemm_packed_b_count(Int32(n), Int32(k)), parts: parts, context: context,
            build: { packed, part in
                let first = part * panels / parts * 16, last = min(n, (part + 1) * panels / parts * 16)
                guard last > first else { return }
                kiln_gemm_pack_b_columns(
                    Int32(n), Int32(k), Int32(first), Int32(last - first), w.type.kernelType,
                    w.offset(row: 0, column: first).base, w.rowStride, w.columnStride, packed)
            },
            use: { packed in
                let pieces = split(m, align: 6, work: m * n * k, context: context)
                context.run(pieces.count) { index in
                    let start = index * pieces.chunk, size = min(m, start + pieces.chunk) - start
                    let rows = a.offset(row: start, column: 0)
                    kiln_gemm_prepacked(
                        Int32(size), Int32(n), Int32(k), rows.type.kernelType, rows.base, rows.rowStride,
                        rows.columnStride, packed, c + start * ldc, ldc, accumulate ? 1 : 0)
                }
            })
    }

    /// `body(packing)` with the weight W[m×k] (read as A: a convolution's [out, in·k·k]) packed.
    public static func withPackedWeight<R>(
        _ w: MatrixOperand, rows m: Int, depth k: Int, context: KernelContext, _ body: (UnsafePointer<Float>) -> R
    ) -> R {
        let panels = (m + 5) / 6, parts = packingParts(panels: panels, context: context)
        let key = PackingTeam.Key(w.base, layout: [1, m, k, w.rowStride, w.columnStride, Int(w.type.kernelType)])
        return PackingTeam.withPacking(
            key, floats: kiln_gemm_packed_a_count(Int32(m), Int32(k)), parts: parts, context: context,
            build: { packed, part in
                let first = part * panels / parts * 6, last = min(m, (part + 1) * panels / parts * 6)
                guard last > first else { return }
                kiln_gemm_pack_a(
                    Int32(m), Int32(k), Int32(first), Int32(last - first), w.type.kernelType,
                    w.offset(row: first, column: 0).base, w.rowStride, w.columnStride, packed)
            }, use: body)
    }

    /// C[m×n] = W · B[k×n] for a weight W[m×k] read as A, packed once per batch. Split by columns
    /// of C between the context's threads.
    public static func multiply(
        weight w: MatrixOperand, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int? = nil, accumulate: Bool = false, context: KernelContext
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else { return multiply(w, b, into: c, m: m, n: n, k: k, ldc: ldc, accumulate: accumulate, context: context) }
        withPackedWeight(w, rows: m, depth: k, context: context) { packed in
            multiply(packedWeight: packed, b, into: c, m: m, n: n, k: k, ldc: ldc, accumulate: accumulate, context: context)
        }
    }

    /// C[m×n] = W · B with W's packing from `withPackedWeight`; split by columns of C.
    public static func multiply(
        packedWeight packed: UnsafePointer<Float>, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int? = nil, accumulate: Bool = false, context: KernelContext
    ) {
        let ldc = ldc ?? n
        let pieces = split(n, align: 16, work: m * n * k, context: context)
        context.run(pieces.count) { index in
            let start = index * pieces.chunk, size = min(n, start + pieces.chunk) - start
            multiplyOnThisThread(
                packedWeight: packed, b.offset(row: 0, column: start), into: c + start,
                m: m, n: size, k: k, ldc: ldc, accumulate: accumulate)
        }
    }

    /// The same on the calling thread only.
    @inline(__always)
    public static func multiplyOnThisThread(
        packedWeight packed: UnsafePointer<Float>, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int? = nil, accumulate: Bool = false
    ) {
        kiln_gemm_prepacked_a(
            Int32(m), Int32(n), Int32(k), packed, b.type.kernelType, b.base, b.rowStride, b.columnStride,
            c, ldc ?? n, accumulate ? 1 : 0)
    }

    /// Pieces of `extent` (multiples of `align`, at least 48 each) for the context's threads; one
    /// when the product is small or the thread is serial.
    static func split(_ extent: Int, align: Int, work: Int, context: KernelContext) -> (chunk: Int, count: Int) {
        let parts =
            work < parallelThreshold || KernelContext.isSerial
            ? 1 : min(extent >= 2048 ? 2 * context.width : context.width, max(1, extent / 48))
        let chunk = ((extent + parts - 1) / parts + align - 1) / align * align
        return (chunk, (extent + chunk - 1) / chunk)
    }
}

import CKilnKernels

/// A weight packed once, when a model loads, into the panels the GEMM micro-kernel reads, so that
/// products against it skip packing. For models whose passes are small (an encoder embedding one
/// sentence): there, packing every weight anew on each pass cost as much as the products
/// themselves. It costs memory: a float copy of the weight beside the file's.
public final class PackedWeight: @unchecked Sendable {
    /// The product's B: [depth × columns].
    public let columns: Int
    public let depth: Int
    let panels: UnsafeMutablePointer<Float>

    /// Packs `weight`, read as B [depth × columns] (for a linear layer's weight [out, in], its
    /// transpose: columns = out, depth = in).
    public init(_ weight: MatrixOperand, columns: Int, depth: Int, context: KernelContext) {
        precondition(columns > 0 && depth > 0, "a packed weight needs a positive size")
        self.columns = columns
        self.depth = depth
        let count = kiln_gemm_packed_b_count(Int32(columns), Int32(depth))
        panels = .allocate(capacity: count)
        let panelCount = (columns + 15) / 16, parts = GEMM.packingParts(panels: panelCount, context: context)
        context.run(parts) { part in
            let first = part * panelCount / parts * 16, last = min(columns, (part + 1) * panelCount / parts * 16)
            guard last > first else { return }
            kiln_gemm_pack_b_columns(
                Int32(columns), Int32(depth), Int32(first), Int32(last - first), weight.type.kernelType,
                weight.offset(row: 0, column: first).base, weight.rowStride, weight.columnStride, panels)
        }
    }

    deinit { panels.deallocate() }
}

extension GEMM {
    /// C[m×n] = A[m×k] · B for B packed once (`PackedWeight`, n = its columns, k = its depth);
    /// C's rows `ldc` apart (default n). Split by rows of C between the context's threads. Bitwise
    /// the product `multiply(_:weight:…)` gives for the same weight.
    public static func multiply(
        _ a: MatrixOperand, packed b: PackedWeight, into c: UnsafeMutablePointer<Float>,
        m: Int, ldc: Int? = nil, accumulate: Bool = false, context: KernelContext
    ) {
        let n = b.columns, k = b.depth, ldc = ldc ?? n
        guard m > 0 else { return }
        let pieces = split(m, align: 6, work: m * n * k, context: context)
        context.run(pieces.count) { index in
            let start = index * pieces.chunk, size = min(m, start + pieces.chunk) - start
            let rows = a.offset(row: start, column: 0)
            kiln_gemm_prepacked(
                Int32(size), Int32(n), Int32(k), rows.type.kernelType, rows.base, rows.rowStride, rows.columnStride,
                b.panels, c + start * ldc, ldc, accumulate ? 1 : 0)
        }
    }
}

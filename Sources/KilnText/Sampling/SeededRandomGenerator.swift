/// The random number generator behind seeded sampling: xoshiro256** (Blackman and Vigna, 2018),
/// its 256-bit state filled from the 64-bit seed by SplitMix64.
///
/// Everything here is integer arithmetic on `UInt64` with wrapping operators, so a given seed
/// yields the same stream of numbers on every machine, compiler and operating system.
/// Conversion to floating point is defined exactly too (see `nextUnitDouble()`), which is what
/// makes seeded sampling reproducible across machines.
public struct SeededRandomGenerator: RandomNumberGenerator, Sendable, Equatable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Creates a generator whose stream depends only on `seed`.
    ///
    /// The four state words are four consecutive outputs of SplitMix64 started at `seed`;
    /// SplitMix64 never yields four zero words in a row, so the state is never all zero.
    public init(seed: UInt64) {
        var splitMix = seed
        func nextSplitMix() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = nextSplitMix()
        s1 = nextSplitMix()
        s2 = nextSplitMix()
        s3 = nextSplitMix()
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, by: 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, by: 45)
        return result
    }

    /// A uniform number in [0, 1): the top 53 bits of `next()` times 2⁻⁵³.
    ///
    /// Both steps are exact in IEEE-754 double precision, so the value is the same everywhere.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    @inline(__always)
    private func rotateLeft(_ value: UInt64, by amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }
}

// Elementary functions built only from IEEE-754 basic operations, so that seeded sampling
// gives the same bits on every machine (platform `exp`/`log` differ in the last place, which
// could flip a sample that lands on a boundary).
//
// `portableExponential` stays a second (double-precision) polynomial beside KilnTensor's
// single-precision `Elementwise.portableExp`: log-probabilities are summed over the whole
// vocabulary in double and must agree with libm's `exp` to a few units in the last place
// (`SamplingGeneratorTests`), which no single-precision polynomial can give.

import KilnTensor

/// An exponential function built only from IEEE-754 additions and multiplications, so that it
/// returns the same bits on every machine (platform `exp` implementations differ in the last
/// place, which could flip a seeded sample that lands on a boundary).
///
/// Method: write x = k·ln 2 + r with |r| ≤ ln 2 / 2 (Cody–Waite split of ln 2 into a high part
/// with trailing zero bits and a low correction), evaluate eʳ by its Taylor series to degree 13
/// (truncation error below 2⁻⁵²), and scale by 2ᵏ exactly. Relative error is a few units in the
/// last place, far below anything sampling can notice.
@inline(__always)
public func portableExponential(_ x: Double) -> Double {
    if x.isNaN { return x }
    if x < -745.2 { return 0 }
    if x > 709.7 { return .infinity }
    let log2e = 1.442_695_040_888_963_4
    let ln2High = 0.693_147_180_369_123_816_49  // ln 2 rounded to 32 significant bits
    let ln2Low = 1.908_214_929_270_587_700_02e-10  // ln 2 − ln2High
    let k = (x * log2e).rounded(.toNearestOrEven)
    let r = (x - k * ln2High) - k * ln2Low
    // Horner form of Σ rⁿ/n! for n = 0…13.
    var p = 1.0 / 6_227_020_800.0
    p = p * r + 1.0 / 479_001_600.0
    p = p * r + 1.0 / 39_916_800.0
    p = p * r + 1.0 / 3_628_800.0
    p = p * r + 1.0 / 362_880.0
    p = p * r + 1.0 / 40_320.0
    p = p * r + 1.0 / 5_040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    // Scale by 2ᵏ in two exact steps so that results near the subnormal range stay correct.
    let exponent = Int(k)
    if exponent < -1000 {
        return p * twoToThe(exponent + 1000) * twoToThe(-1000)
    }
    return p * twoToThe(exponent)
}

/// 2ⁿ for −1022 ≤ n ≤ 1023, built from its bit pattern.
@inline(__always)
private func twoToThe(_ n: Int) -> Double {
    Double(bitPattern: UInt64(n + 1023) << 52)
}

/// The natural logarithm, built like `portableExponential` from basic operations only.
///
/// Method: x = m·2ᵉ with √½ ≤ m < √2, then ln m = 2·atanh(s) with s = (m − 1)/(m + 1),
/// |s| < 0.172, summed to s²¹ (truncation error below 2⁻⁵³), plus e·ln 2.
public func portableLogarithm(_ x: Double) -> Double {
    if x.isNaN || x < 0 { return .nan }
    if x == 0 { return -.infinity }
    if x == .infinity { return x }
    var value = x
    var exponent = 0
    if value < 0x1p-1000 {  // lift subnormals into the normal range first
        value *= 0x1p100
        exponent -= 100
    }
    let bits = value.bitPattern
    exponent += Int((bits >> 52) & 0x7FF) - 1023
    var mantissa = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
    if mantissa > 1.414_213_562_373_095_1 {
        mantissa *= 0.5
        exponent += 1
    }
    let s = (mantissa - 1) / (mantissa + 1)
    let s2 = s * s
    var series = 1.0 / 21
    var denominator = 19.0
    while denominator >= 1 {
        series = series * s2 + 1 / denominator
        denominator -= 2
    }
    let ln2High = 0.693_147_180_369_123_816_49
    let ln2Low = 1.908_214_929_270_587_700_02e-10
    let e = Double(exponent)
    return (e * ln2High + 2 * s * series) + e * ln2Low
}

/// A single-precision exponential for x ≤ 0 (sampling weights), the same bits on every machine:
/// KilnTensor's `Elementwise.portableExp` (its one Swift single-precision exponential), with
/// positive inputs taken as 0 and, as the sampler has always had it, inputs below −87 (results
/// near the smallest normal float), −∞ and NaN giving 0. Relative error below 2·10⁻⁷; free of
/// branches, so that loops over it vectorize.
@inline(__always)
public func portableUnitExponential(_ x: Float) -> Float {
    x < -87 ? 0 : Elementwise.portableExp(min(x, 0))
}

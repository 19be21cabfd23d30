/// GBNF for integers and numbers within bounds, exact: an integer range becomes alternatives over
/// its decimal digits (as a regular expression for a numeric range is built), and a bounded number
/// becomes its integer part in a range plus, at each bound, the fractions that keep it inside.
/// Numbers are written as JSON writes them: no leading zeros, at most 16 integer digits, no exponent
/// when a bound applies.
enum NumericRanges {
    /// The largest magnitude a generated integer part can have (16 digits, as `integral-part`).
    static let maxMagnitude: Int = 9_999_999_999_999_999

    /// GBNF for the integers `lower...upper` (either may be absent); nil when the range is empty.
    static func integers(lower: Int?, upper: Int?) -> String? {
        let lower = lower.map { max($0, -maxMagnitude) }
        let upper = upper.map { min($0, maxMagnitude) }
        if let lower, let upper, lower > upper { return nil }
        if let lower, lower > maxMagnitude { return nil }
        if let upper, upper < -maxMagnitude { return nil }
        var parts: [String] = []
        if lower == nil || lower! < 0 {
            let magnitudeLower = upper.map { $0 < 0 ? -$0 : 1 } ?? 1
            parts.append("\"-\" (" + nonNegative(from: magnitudeLower, to: lower.map { -$0 }) + ")")
        }
        if upper == nil || upper! >= 0 {
            parts.append(nonNegative(from: max(lower ?? 0, 0), to: upper))
        }
        return parts.map { "(\($0))" }.joined(separator: " | ")
    }

    /// A bound of a number's magnitude or value.
    struct Bound {
        var value: Int
        var inclusive: Bool
    }

    /// GBNF for JSON numbers within integer bounds (either may be absent); nil when none fits.
    static func numbers(lower: Bound?, upper: Bound?) -> String? {
        var parts: [String] = []
        // x ≥ 0.
        if upper.map({ $0.value > 0 || ($0.value == 0 && $0.inclusive) }) ?? true {
            let magnitudeLower = lower.map { $0.value >= 0 ? $0 : Bound(value: 0, inclusive: true) } ?? Bound(value: 0, inclusive: true)
            if let magnitude = magnitudes(lower: magnitudeLower, upper: upper) { parts.append(magnitude) }
        }
        // x < 0, written as "-" m with m > 0.
        if lower.map({ $0.value < 0 }) ?? true {
            let magnitudeLower =
                upper.map { $0.value < 0 ? Bound(value: -$0.value, inclusive: $0.inclusive) : Bound(value: 0, inclusive: false) }
                ?? Bound(value: 0, inclusive: false)
            let magnitudeUpper = lower.map { Bound(value: -$0.value, inclusive: $0.inclusive) }
            if let magnitude = magnitudes(lower: magnitudeLower, upper: magnitudeUpper) { parts.append("\"-\" (\(magnitude))") }
        }
        if parts.isEmpty { return nil }
        return parts.map { "(\($0))" }.joined(separator: " | ")
    }

    private static let anyFraction = #"("." [0-9]{1,16})?"#
    private static let zeroFraction = #"("." [0]{1,16})?"#
    private static let nonZeroFraction = #""." [0-9]{0,15} [1-9] [0-9]{0,15}"#

    /// Non-negative numbers m = I.F with `lower` ≤ m ≤ `upper` (bounds inclusive or not).
    private static func magnitudes(lower: Bound, upper: Bound?) -> String? {
        let lowerFraction = lower.inclusive ? anyFraction : nonZeroFraction
        guard let upper else {
            var parts = ["\(SchemaPrimitives.literal(String(lower.value))) \(lowerFraction)"]
            if let above = integerPart(from: lower.value + 1, to: nil) { parts.insert("(\(above)) \(anyFraction)", at: 0) }
            return parts.joined(separator: " | ")
        }
        if lower.value > upper.value { return nil }
        if lower.value == upper.value {
            return lower.inclusive && upper.inclusive ? "\(SchemaPrimitives.literal(String(lower.value))) \(zeroFraction)" : nil
        }
        var parts: [String] = []
        if let between = integerPart(from: lower.value + 1, to: upper.value - 1) { parts.append("(\(between)) \(anyFraction)") }
        parts.append("\(SchemaPrimitives.literal(String(lower.value))) \(lowerFraction)")
        if upper.inclusive { parts.append("\(SchemaPrimitives.literal(String(upper.value))) \(zeroFraction)") }
        return parts.joined(separator: " | ")
    }

    private static func integerPart(from lower: Int, to upper: Int?) -> String? {
        if let upper, lower > upper { return nil }
        if lower > maxMagnitude { return nil }
        return nonNegative(from: lower, to: upper.map { min($0, maxMagnitude) })
    }

    /// Non-negative integers `lower...upper` (`upper` nil: up to 16 digits) without leading zeros.
    static func nonNegative(from lower: Int, to upper: Int?) -> String {
        let lowerDigits = String(lower).count
        var alternatives: [String] = []
        let upperValue = upper ?? maxMagnitude
        let upperDigits = String(upperValue).count
        for length in lowerDigits...upperDigits {
            let low = length == lowerDigits ? lower : power(10, length - 1)
            let high = length == upperDigits ? upperValue : power(10, length) - 1
            if low > high { continue }
            alternatives += sameLength(Array(String(low).utf8), Array(String(high).utf8))
        }
        return alternatives.joined(separator: " | ")
    }

    private static func power(_ base: Int, _ exponent: Int) -> Int {
        var value = 1
        for _ in 0..<exponent { value *= base }
        return value
    }

    /// Alternatives matching every digit string between `low` and `high` (equal lengths).
    private static func sameLength(_ low: [UInt8], _ high: [UInt8]) -> [String] {
        if low == high { return [SchemaPrimitives.literal(String(decoding: low, as: UTF8.self))] }
        let first = low[0]
        let last = high[0]
        let rest = low.count - 1
        if rest == 0 { return ["[\(Character(UnicodeScalar(first)))-\(Character(UnicodeScalar(last)))]"] }
        let lowRest = Array(low[1...])
        let highRest = Array(high[1...])
        let digit = { (value: UInt8) in String(Character(UnicodeScalar(value))) }
        if first == last {
            return sameLength(lowRest, highRest).map { "[\(digit(first))] (\($0))" }
        }
        let allZero = lowRest.allSatisfy { $0 == 0x30 }
        let allNine = highRest.allSatisfy { $0 == 0x39 }
        var alternatives: [String] = []
        let fullFirst = allZero ? first : first + 1
        let fullLast = allNine ? last : last - 1
        if !allZero {
            alternatives += sameLength(lowRest, [UInt8](repeating: 0x39, count: rest)).map { "[\(digit(first))] (\($0))" }
        }
        if fullFirst <= fullLast {
            alternatives.append("[\(digit(fullFirst))-\(digit(fullLast))] [0-9]{\(rest)}")
        }
        if !allNine {
            alternatives += sameLength([UInt8](repeating: 0x30, count: rest), highRest).map { "[\(digit(last))] (\($0))" }
        }
        return alternatives
    }
}

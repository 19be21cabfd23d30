import Foundation

/// `datetime.now().strftime(format)` as Python on Linux computes it: glibc's directives in the C
/// locale, with the `-`, `_`, `0` and `^` flags. The datetime is naive, so `%z` and `%Z` are empty.
enum Strftime {
    private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ]

    /// Refuses to produce more than `maxBytes` bytes.
    static func format(_ format: String, date: Date, timeZone: TimeZone, maxBytes: Int = .max) throws -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let fields = Fields(
            year: parts.year ?? 1970, month: parts.month ?? 1, day: parts.day ?? 1, hour: parts.hour ?? 0,
            minute: parts.minute ?? 0, second: parts.second ?? 0, weekday: (parts.weekday ?? 1) - 1,
            dayOfYear: calendar.ordinality(of: .day, in: .year, for: date) ?? 1,
            microsecond: (parts.nanosecond ?? 0) / 1000,
            epochSeconds: Int(date.timeIntervalSince1970.rounded(.down)))
        return try render(Array(format.unicodeScalars), fields, maxBytes: maxBytes)
    }

    struct Fields {
        let year, month, day, hour, minute, second, weekday, dayOfYear, microsecond, epochSeconds: Int
    }

    static func render(_ scalars: [Unicode.Scalar], _ fields: Fields, maxBytes: Int) throws -> String {
        var output = ""
        var index = 0
        while index < scalars.count {
            if output.utf8.count > maxBytes {
                throw TemplateError(.limitExceeded, "strftime result exceeds \(maxBytes) bytes")
            }
            let scalar = scalars[index]
            guard scalar == "%", index + 1 < scalars.count else {
                output.unicodeScalars.append(scalar)
                index += 1
                continue
            }
            index += 1
            var flag: Unicode.Scalar?
            if "-_0^#".unicodeScalars.contains(scalars[index]), index + 1 < scalars.count {
                flag = scalars[index]
                index += 1
            }
            let directive = scalars[index]
            index += 1
            guard let text = expand(directive, fields) else {
                output += "%"
                if let flag { output.unicodeScalars.append(flag) }
                output.unicodeScalars.append(directive)
                continue
            }
            output += applyFlag(flag, text.text, numeric: text.numeric)
        }
        return output
    }

    private static func applyFlag(_ flag: Unicode.Scalar?, _ text: String, numeric: Bool) -> String {
        switch flag {
        case "-" where numeric:
            let trimmed = text.drop(while: { $0 == "0" || $0 == " " })
            return trimmed.isEmpty ? "0" : String(trimmed)
        case "_" where numeric:
            var characters = Array(text)
            var position = 0
            while position < characters.count - 1, characters[position] == "0" {
                characters[position] = " "
                position += 1
            }
            return String(characters)
        case "0" where numeric:
            return text.replacingOccurrences(of: " ", with: "0")
        case "^":
            return text.uppercased()
        default:
            return text
        }
    }

    private static func padded(_ value: Int, _ width: Int, _ pad: Character = "0") -> String {
        let digits = String(value)
        return String(repeating: pad, count: max(0, width - digits.count)) + digits
    }

    private static func expand(_ directive: Unicode.Scalar, _ f: Fields) -> (text: String, numeric: Bool)? {
        let hour12 = f.hour % 12 == 0 ? 12 : f.hour % 12
        let isoWeekday = f.weekday == 0 ? 7 : f.weekday
        switch directive {
        case "a": return (String(weekdays[f.weekday].prefix(3)), false)
        case "A": return (weekdays[f.weekday], false)
        case "b", "h": return (String(months[f.month - 1].prefix(3)), false)
        case "B": return (months[f.month - 1], false)
        case "c":
            return (
                "\(weekdays[f.weekday].prefix(3)) \(months[f.month - 1].prefix(3)) \(padded(f.day, 2, " ")) "
                    + "\(padded(f.hour, 2)):\(padded(f.minute, 2)):\(padded(f.second, 2)) \(f.year)", false
            )
        case "C": return (padded(f.year / 100, 2), true)
        case "d": return (padded(f.day, 2), true)
        case "D", "x": return ("\(padded(f.month, 2))/\(padded(f.day, 2))/\(padded(f.year % 100, 2))", false)
        case "e": return (padded(f.day, 2, " "), true)
        case "f": return (padded(f.microsecond, 6), true)
        case "F": return ("\(padded(f.year, 4))-\(padded(f.month, 2))-\(padded(f.day, 2))", false)
        case "H": return (padded(f.hour, 2), true)
        case "I": return (padded(hour12, 2), true)
        case "j": return (padded(f.dayOfYear, 3), true)
        case "k": return (padded(f.hour, 2, " "), true)
        case "l": return (padded(hour12, 2, " "), true)
        case "m": return (padded(f.month, 2), true)
        case "M": return (padded(f.minute, 2), true)
        case "n": return ("\n", false)
        case "p": return (f.hour < 12 ? "AM" : "PM", false)
        case "P": return (f.hour < 12 ? "am" : "pm", false)
        case "r": return ("\(padded(hour12, 2)):\(padded(f.minute, 2)):\(padded(f.second, 2)) \(f.hour < 12 ? "AM" : "PM")", false)
        case "R": return ("\(padded(f.hour, 2)):\(padded(f.minute, 2))", false)
        case "s": return (String(f.epochSeconds), true)
        case "S": return (padded(f.second, 2), true)
        case "t": return ("\t", false)
        case "T", "X": return ("\(padded(f.hour, 2)):\(padded(f.minute, 2)):\(padded(f.second, 2))", false)
        case "u": return (String(isoWeekday), true)
        case "w": return (String(f.weekday), true)
        case "U": return (padded((f.dayOfYear - 1 - f.weekday + 7) / 7, 2), true)
        case "W": return (padded((f.dayOfYear - 1 - (isoWeekday - 1) + 7) / 7, 2), true)
        case "V", "G", "g":
            let (isoYear, week) = isoWeek(f)
            if directive == "V" { return (padded(week, 2), true) }
            return directive == "G" ? (String(isoYear), true) : (padded(isoYear % 100, 2), true)
        case "y": return (padded(f.year % 100, 2), true)
        case "Y": return (String(f.year), true)
        case "z", "Z": return ("", false)
        case "%": return ("%", false)
        default: return nil
        }
    }

    /// ISO 8601 week-numbering year and week.
    private static func isoWeek(_ f: Fields) -> (Int, Int) {
        let isoWeekday = f.weekday == 0 ? 7 : f.weekday
        let week = (f.dayOfYear - isoWeekday + 10) / 7
        func weeksIn(_ year: Int) -> Int {
            func jan1Weekday(_ y: Int) -> Int {
                // Zeller-like: ISO weekday (1 = Monday) of January 1st.
                let a = (y - 1) % 400
                let days = a * 365 + a / 4 - a / 100 + a / 400
                return days % 7 + 1
            }
            let isLeap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            let first = jan1Weekday(year)
            return first == 4 || (isLeap && first == 3) ? 53 : 52
        }
        if week < 1 { return (f.year - 1, weeksIn(f.year - 1)) }
        if week > weeksIn(f.year) { return (f.year + 1, 1) }
        return (f.year, week)
    }
}

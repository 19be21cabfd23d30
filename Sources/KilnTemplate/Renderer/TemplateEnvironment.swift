import Foundation

/// How a template sees the outside world, beyond its context variables.
public struct TemplateEnvironment: Sendable {
    /// The wall-clock time `strftime_now(format)` formats, as local time of `timeZone`.
    /// The server uses the real clock; tests fix it.
    public var now: @Sendable () -> Date
    /// The time zone `strftime_now` formats in (Python's `datetime.now()` is local time).
    public var timeZone: TimeZone

    public init(now: @escaping @Sendable () -> Date = { Date() }, timeZone: TimeZone = .current) {
        self.now = now
        self.timeZone = timeZone
    }

    /// An environment whose clock always reads `date` in `timeZone`.
    public static func fixed(_ date: Date, timeZone: TimeZone = TimeZone(identifier: "UTC")!) -> TemplateEnvironment {
        TemplateEnvironment(now: { date }, timeZone: timeZone)
    }
}

import COpenSSL

/// Reads OpenSSL's per-thread error queue. Callers clear it right before an OpenSSL call and read
/// it right after, on the same thread, so the errors read belong to that call.
enum TLSErrorQueue {
    /// Empties the queue, so that a later read sees only the next call's errors.
    static func clear() {
        ERR_clear_error()
    }

    /// Drains the queue into one readable line; `fallback` when OpenSSL recorded nothing.
    /// - Returns: the text and the reason codes, oldest first.
    static func drain(fallback: String) -> (text: String, reasons: [Int32]) {
        var messages: [String] = []
        var reasons: [Int32] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            reasons.append(kiln_ERR_GET_REASON(code))
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(describe(String(cString: buffer)))
        }
        return (messages.isEmpty ? fallback : messages.joined(separator: "; "), reasons)
    }

    /// OpenSSL's strings read "error:0A00010B:SSL routines::wrong version number"; the reason at
    /// the end is what a reader needs, the library prefix is kept for searching.
    private static func describe(_ line: String) -> String {
        let fields = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
        guard fields.count == 5 else { return line }
        let library = fields[2]
        let reason = fields[4]
        return library.isEmpty ? String(reason) : "\(reason) (\(library))"
    }
}

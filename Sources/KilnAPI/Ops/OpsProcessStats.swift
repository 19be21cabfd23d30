#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Figures about this process for `/metrics`, read from the kernel at scrape time.
public struct OpsProcessStats: Sendable, Equatable {
    /// Resident set size in bytes.
    public var residentMemoryBytes: Double
    /// User plus system CPU time in seconds.
    public var cpuSeconds: Double
    /// Open file descriptors (sockets included); nil where /proc is missing.
    public var openFileDescriptors: Double?
    /// Maximum open file descriptors (soft limit).
    public var maxFileDescriptors: Double

    /// Reads the current figures.
    public static func current() -> OpsProcessStats {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return OpsProcessStats(
            residentMemoryBytes: residentMemory() ?? Double(usage.ru_maxrss) * 1024,
            cpuSeconds: cpu, openFileDescriptors: openDescriptorCount(),
            maxFileDescriptors: Double(limit.rlim_cur))
    }

    /// The second field of /proc/self/statm is resident pages.
    private static func residentMemory() -> Double? {
        guard let file = fopen("/proc/self/statm", "r") else { return nil }
        defer { fclose(file) }
        var size = 0, resident = 0
        guard
            withUnsafeMutablePointer(
                to: &size,
                { sizePointer in
                    withUnsafeMutablePointer(to: &resident) { residentPointer in
                        readTwoIntegers(file, sizePointer, residentPointer)
                    }
                })
        else { return nil }
        return Double(resident) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func readTwoIntegers(
        _ file: UnsafeMutablePointer<FILE>, _ first: UnsafeMutablePointer<Int>,
        _ second: UnsafeMutablePointer<Int>
    ) -> Bool {
        var buffer = [CChar](repeating: 0, count: 256)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return false }
        let fields = String(cString: buffer).split(separator: " ")
        guard fields.count >= 2, let a = Int(fields[0]), let b = Int(fields[1]) else { return false }
        first.pointee = a
        second.pointee = b
        return true
    }

    private static func openDescriptorCount() -> Double? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        // ".", ".." and the directory's own descriptor are not the process's.
        return Double(max(count - 3, 0))
    }
}

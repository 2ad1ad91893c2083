import Foundation

/// The format of a container's log file, the CRI's (what the kubelet and containerd write, and
/// what log shippers parse): one record per line, `TIME STREAM TAG TEXT`, where TIME is RFC 3339
/// in UTC with nine digits of nanoseconds, STREAM is `stdout` (a container's two streams share
/// one pipe here), and TAG is `F` for a line that ended with a newline or `P` for a piece of one
/// (output without a newline yet, or a line longer than a record holds). The fixed-width time
/// sorts as text, so a `since` is a comparison of bytes.
public enum LogRecords {
    /// `2026-12-07T22:10:00.123456789Z`: 30 bytes.
    public static let stampLength = 30

    /// The time now, as a record's stamp.
    public static func stamp() -> [UInt8] {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return stamp(seconds: Int(ts.tv_sec), nanoseconds: Int(ts.tv_nsec))
    }

    public static func stamp(_ date: Date) -> [UInt8] {
        let t = date.timeIntervalSince1970
        let seconds = Int(t.rounded(.down))
        return stamp(seconds: seconds, nanoseconds: min(999_999_999, max(0, Int(((t - Double(seconds)) * 1e9).rounded()))))
    }

    public static func stamp(seconds: Int, nanoseconds: Int) -> [UInt8] {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(stampLength)
        func digits(_ value: Int, _ count: Int) {
            var v = value
            var buffer = [UInt8](repeating: 0x30, count: count)
            for i in stride(from: count - 1, through: 0, by: -1) {
                buffer[i] = UInt8(0x30 + v % 10)
                v /= 10
            }
            out += buffer
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(nanoseconds, 9)
        out.append(UInt8(ascii: "Z"))
        return out
    }

    /// The records for a chunk of output read at `stamp`, and where each ends (so that a file is
    /// never cut inside one). A line's text longer than `maxText` is cut into `P` pieces.
    public static func records(of bytes: UnsafeRawBufferPointer, stamp: [UInt8], maxText: Int) -> (bytes: [UInt8], ends: [Int]) {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 48)
        var ends: [Int] = []
        let head = stamp + Array(" stdout ".utf8)
        func record(_ range: Range<Int>, full: Bool) {
            var start = range.lowerBound
            repeat {
                let end = min(range.upperBound, start + max(1, maxText))
                out += head
                out.append(full && end == range.upperBound ? UInt8(ascii: "F") : UInt8(ascii: "P"))
                out.append(UInt8(ascii: " "))
                out += UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                out.append(0x0A)
                ends.append(out.count)
                start = end
            } while start < range.upperBound
        }
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0A {
            record(start..<i, full: true)
            start = i + 1
        }
        if start < bytes.count { record(start..<bytes.count, full: false) }
        return (out, ends)
    }

    /// What a reader asks of the records.
    public struct Selection: Sendable, Equatable {
        /// Only what was written at or after this time.
        public var since: Date?
        /// Each line starts with the time it was written and a space (`kubectl logs --timestamps`).
        public var timestamps: Bool
        public init(since: Date? = nil, timestamps: Bool = false) {
            self.since = since
            self.timestamps = timestamps
        }
    }

    /// The container's output in `data` (records; a line that is not one is taken as text), as
    /// `selection` asks. `cut`: the data may begin inside a record (a window read from the end of
    /// a file), so its first line is dropped.
    public static func text(_ data: Data, selection: Selection = Selection(), cut: Bool = false) -> String {
        let since = selection.since.map { stamp($0) }
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            var start = 0
            if cut, start < b.count {
                guard let nl = b.firstIndex(of: 0x0A) else { return }
                start = nl + 1
            }
            // Inside a line whose earlier pieces (P) were taken or skipped.
            var continuing = false
            var taking = false
            while start < b.count {
                let end = b[start...].firstIndex(of: 0x0A) ?? b.count
                let line = b[start..<end]
                defer { start = end + 1 }
                // TIME SP STREAM SP TAG SP TEXT
                let isRecord =
                    line.count >= stampLength + 3 && b[start + stampLength] == UInt8(ascii: " ")
                    && b[start + 4] == UInt8(ascii: "-") && b[start + stampLength - 1] == UInt8(ascii: "Z")
                guard isRecord, let s1 = b[(start + stampLength + 1)..<end].firstIndex(of: UInt8(ascii: " ")), s1 + 2 < end else {
                    // Not a record: plain text (a file from before records, or the runtime's own).
                    out += line
                    out.append(0x0A)
                    continuing = false
                    continue
                }
                let full = b[s1 + 1] == UInt8(ascii: "F")
                let textStart = min(end, s1 + 3)
                if !continuing {
                    let time = b[start..<(start + stampLength)]
                    taking = since.map { !time.lexicographicallyPrecedes($0) } ?? true
                    if taking && selection.timestamps {
                        out += time
                        out.append(UInt8(ascii: " "))
                    }
                }
                if taking {
                    out += b[textStart..<end]
                    if full { out.append(0x0A) }
                }
                continuing = !full
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The last `maxBytes` of a log file and the one rotated before it, as records, and whether
    /// the window starts inside the older file's content (so its first line may be cut).
    public static func window(_ path: String, maxBytes: Int) -> (data: Data, cut: Bool) {
        func read(_ p: String, _ limit: Int) -> (Data, Bool) {
            guard let h = FileHandle(forReadingAtPath: p), limit > 0 else { return (Data(), false) }
            defer { try? h.close() }
            let end = (try? h.seekToEnd()) ?? 0
            try? h.seek(toOffset: end > UInt64(limit) ? end - UInt64(limit) : 0)
            return ((try? h.readToEnd()) ?? Data(), end > UInt64(limit))
        }
        let (current, cutCurrent) = read(path, maxBytes)
        guard current.count < maxBytes else { return (current, cutCurrent) }
        let (older, cutOlder) = read(path + ".1", maxBytes - current.count)
        return (older + current, cutOlder)
    }
}

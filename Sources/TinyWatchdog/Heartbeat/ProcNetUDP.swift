import TinyBase

/// A UDP socket as `/proc/net/udp` (and `udp6`) lists it.
package struct UDPSocketEntry: Equatable {
    package var inode: UInt64
    package var uid: UInt32
}

/// Reads the kernel's UDP socket tables to learn which socket a datagram
/// came from.
package enum ProcNetUDP {
    /// Appends to `found` the sockets in one table's text that a datagram
    /// from `source` may have left by: bound to its port and to its address
    /// or the wildcard (`0.0.0.0`; in `udp6` also `::` and `::ffff:a.b.c.d`).
    /// Lines look like `  12: 0100007F:E2A4 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000  0 55123 2 …`:
    /// field 1 is `address:port` in hex (the address as the kernel's 32-bit
    /// words in host byte order), field 7 the uid, field 9 the inode.
    package static func candidates(for source: UDPSource, in table: [UInt8], into found: inout [UDPSocketEntry]) {
        var lineStart = 0
        var first = true
        while lineStart < table.count {
            var lineEnd = lineStart
            while lineEnd < table.count && table[lineEnd] != 0x0A { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            if first { first = false; continue }  // the header
            if let entry = entry(table, lineStart, lineEnd, source: source) { found.append(entry) }
        }
    }

    private static func entry(_ t: [UInt8], _ start: Int, _ end: Int, source: UDPSource) -> UDPSocketEntry? {
        var fields: [Range<Int>] = []
        var i = start
        while i < end && fields.count < 10 {
            while i < end && t[i] == 0x20 { i += 1 }
            let fieldStart = i
            while i < end && t[i] != 0x20 { i += 1 }
            if i > fieldStart { fields.append(fieldStart..<i) }
        }
        guard fields.count == 10 else { return nil }
        let local = fields[1]
        guard let colon = local.lastIndex(where: { t[$0] == UInt8(ascii: ":") }),
              let localPort = number(t, colon + 1..<local.upperBound, radix: 16), localPort == UInt64(source.port),
              matches(t, local.lowerBound..<colon, source.address),
              let uid = number(t, fields[7], radix: 10), uid <= UInt64(UInt32.max),
              let inode = number(t, fields[9], radix: 10) else { return nil }
        return UDPSocketEntry(inode: inode, uid: UInt32(uid))
    }

    /// Whether a local address field (8 or 32 hex digits) is `address` or a
    /// wildcard that sends from it.
    private static func matches(_ t: [UInt8], _ field: Range<Int>, _ address: UInt32) -> Bool {
        guard field.count == 8 || field.count == 32 else { return false }
        // Each word is printed from the kernel's memory as a host-order
        // integer: its bytes in memory are the address's, in network order.
        var words: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        for w in 0..<(field.count / 8) {
            let start = field.lowerBound + 8 * w
            guard let raw = number(t, start..<start + 8, radix: 16) else { return false }
            let word = UInt32(bigEndian: UInt32(truncatingIfNeeded: raw))
            switch w {
            case 0: words.0 = word
            case 1: words.1 = word
            case 2: words.2 = word
            default: words.3 = word
            }
        }
        if field.count == 8 { return words.0 == address || words.0 == 0 }
        guard words.0 == 0 && words.1 == 0 else { return false }
        return (words.2 == 0 && words.3 == 0) || (words.2 == 0xFFFF && words.3 == address)
    }

    private static func number(_ t: [UInt8], _ range: Range<Int>, radix: UInt64) -> UInt64? {
        guard !range.isEmpty, range.count <= 20 else { return nil }
        var value: UInt64 = 0
        for i in range {
            let b = t[i]
            let digit: UInt64
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(b - 0x30)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(b - 0x41 + 10)
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(b - 0x61 + 10)
            default: return nil
            }
            let (m, o1) = value.multipliedReportingOverflow(by: radix)
            let (s, o2) = m.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = s
        }
        return value
    }
}

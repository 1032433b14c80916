/// A UDP socket as `/proc/net/udp` (and `udp6`) lists it.
struct UDPSocketEntry: Equatable {
    var inode: UInt64
    var uid: UInt32
}

/// Reads the kernel's UDP socket tables to learn which socket a datagram
/// came from.
enum ProcNetUDP {
    /// The sockets bound to local port `port` in one table's text. Lines look
    /// like `  12: 0100007F:E2A4 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000  0 55123 2 …`:
    /// field 1 is `address:port` in hex, field 7 the uid, field 9 the inode.
    static func sockets(boundTo port: UInt16, in table: [UInt8]) -> [UDPSocketEntry] {
        var found: [UDPSocketEntry] = []
        var lineStart = 0
        var first = true
        while lineStart < table.count {
            var lineEnd = lineStart
            while lineEnd < table.count && table[lineEnd] != 0x0A { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            if first { first = false; continue }  // the header
            if let entry = entry(table, lineStart, lineEnd, port: port) { found.append(entry) }
        }
        return found
    }

    private static func entry(_ t: [UInt8], _ start: Int, _ end: Int, port: UInt16) -> UDPSocketEntry? {
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
              let localPort = number(t, colon + 1..<local.upperBound, radix: 16), localPort == UInt64(port),
              let uid = number(t, fields[7], radix: 10), uid <= UInt64(UInt32.max),
              let inode = number(t, fields[9], radix: 10) else { return nil }
        return UDPSocketEntry(inode: inode, uid: UInt32(uid))
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

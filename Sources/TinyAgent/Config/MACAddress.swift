import TinyBase

/// Where the network interfaces are described: sysfs for each interface's
/// `device` link and `address`, and `/proc/net/dev` for their names (the
/// agent has no directory listing; `/proc/net/dev` names the same interfaces
/// as `/sys/class/net`). Tests point both into a temporary folder.
public struct NetworkInterfaces: Sendable {
    public var sysClassNet: String
    public var procNetDev: String

    public init(sysClassNet: String, procNetDev: String) {
        self.sysClassNet = sysClassNet
        self.procNetDev = procNetDev
    }

    public static let system = NetworkInterfaces(sysClassNet: "/sys/class/net", procNetDev: "/proc/net/dev")

    /// The interface names in `/proc/net/dev`, in its order.
    package func names() throws(ConfigError) -> [String] {
        let text: [UInt8]
        do { text = try Files.read(procNetDev, limit: 1 << 20) } catch { throw .file(procNetDev, .cannotRead(error)) }
        var names: [String] = []
        // Two header lines, then `  eth0: 1234 ...`. Names cannot hold ':' or
        // white space (dev_valid_name), so the first ':' ends the name.
        for line in text.split(separator: UInt8(ascii: "\n")).dropFirst(2) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            var name = line[line.startIndex..<colon]
            while let b = name.first, b == 0x20 || b == 0x09 { name.removeFirst() }
            // Never let a name step out of sysClassNet.
            let text = String(decoding: name, as: UTF8.self)
            guard !name.isEmpty, !name.contains(UInt8(ascii: "/")), text != ".", text != ".." else { continue }
            names.append(text)
        }
        return names
    }
}

/// The device's MAC address, which stands in for `rpi_unique_id` when the
/// config says `"mac-address"` (or leaves it empty).
public enum MACAddress {
    /// The MAC of the first physical interface: `eth0`, then `wlan0`, then the
    /// others by name. Physical means it has a `device` link in sysfs, which
    /// rules out `lo`, bridges, veths, tunnels and the like, whose addresses
    /// are made up or change. Lowercase and colon-separated.
    public static func resolve(_ interfaces: NetworkInterfaces = .system) throws(ConfigError) -> (interface: String, address: String) {
        for name in ordered(try interfaces.names()) {
            let base = "\(interfaces.sysClassNet)/\(name)"
            guard Files.size("\(base)/device") != nil else { continue }
            guard let text = try? Files.read("\(base)/address", limit: 256), let address = normalised(text) else { continue }
            return (name, address)
        }
        throw .noMACAddress("no physical network interface with one was found")
    }

    /// `eth0`, `wlan0`, then the rest sorted (byte order).
    static func ordered(_ names: [String]) -> [String] {
        var rest = names.filter { $0 != "eth0" && $0 != "wlan0" }
        rest.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var result: [String] = []
        if names.contains("eth0") { result.append("eth0") }
        if names.contains("wlan0") { result.append("wlan0") }
        return result + rest
    }

    /// `aa:bb:cc:dd:ee:ff` from sysfs text (a trailing newline, any case);
    /// nil for anything else and for the all-zero address.
    static func normalised(_ text: [UInt8]) -> String? {
        var bytes = text
        while let last = bytes.last, last == 0x0A || last == 0x20 { bytes.removeLast() }
        guard bytes.count == 17 else { return nil }
        var out: [UInt8] = []
        var allZero = true
        for (i, b) in bytes.enumerated() {
            if i % 3 == 2 {
                guard b == UInt8(ascii: ":") else { return nil }
                out.append(b)
                continue
            }
            guard JID.isHexDigit(b) else { return nil }
            let lower = b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F") ? b + 0x20 : b
            if lower != UInt8(ascii: "0") { allZero = false }
            out.append(lower)
        }
        return allZero ? nil : String(decoding: out, as: UTF8.self)
    }
}

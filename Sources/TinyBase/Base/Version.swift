/// A process version, `major.minor.patch`, each 0...65535.
public struct Version: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16
    public var patch: UInt16

    public init(major: UInt16, minor: UInt16, patch: UInt16) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses "X.Y.Z".
    public init?(_ text: String) {
        var parts: [UInt16] = []
        var current: UInt32 = 0
        var digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0 else { return nil }
                parts.append(UInt16(current))
                current = 0
                digits = 0
            } else if byte >= 0x30 && byte <= 0x39 {
                current = current * 10 + UInt32(byte - 0x30)
                digits += 1
                guard current <= 65535, digits <= 5 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0 else { return nil }
        parts.append(UInt16(current))
        guard parts.count == 3 else { return nil }
        self.init(major: parts[0], minor: parts[1], patch: parts[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}

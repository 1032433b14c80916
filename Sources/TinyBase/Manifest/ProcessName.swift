/// The name of a SmartMeter process, as heartbeats, the manifest and the
/// verbs give it.
package enum ProcessName {
    package static let maximumLength = 64

    /// Whether `name` is one the agent accepts as a `process_name`: 1–64 of
    /// `[A-Za-z0-9._-]`, not `.` or `..` — it names a log file, so nothing
    /// that could leave the logs folder or hide in a terminal.
    package static func isValid(_ name: UnsafeRawBufferPointer) -> Bool {
        guard name.count > 0, name.count <= maximumLength else { return false }
        for byte in name {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return !(name.count <= 2 && name[0] == UInt8(ascii: ".") && (name.count == 1 || name[1] == UInt8(ascii: ".")))
    }
}

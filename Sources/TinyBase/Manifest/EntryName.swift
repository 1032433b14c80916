
/// An archive entry's name, checked before anything is written.
///
/// The rules, over the raw name bytes (libzip's `ZIP_FL_ENC_RAW`, no code
/// page guessing):
/// - 1 to 1024 bytes, each path component at most 255 (`NAME_MAX`);
/// - valid UTF-8 (a name in a legacy code page such as CP437 is refused,
///   not guessed at), without control characters (NUL, newline … DEL): names
///   end up in logs and remarks;
/// - no backslash (a Windows separator would become part of a file name
///   here, and mean a folder elsewhere);
/// - relative: no leading `/`;
/// - no `..` and no `.` components, and no empty component (`a//b`); one
///   trailing `/` marks a folder.
public struct EntryName: Equatable, Sendable {
    public static let maximumBytes = 1024
    public static let maximumComponentBytes = 255

    /// The path components, e.g. `["SmartMeter", "bin", "run.sh"]`.
    public var components: [String]
    /// The name ended in `/`.
    public var isFolder: Bool

    /// The components joined with `/`, without a trailing `/`.
    public var path: String { joined(components[...]) }
    /// The top-level component as the archive shows it: `__MACOSX/` for a
    /// folder or anything below it, `README.txt` for a top-level file.
    public var topLevel: String { components.count > 1 || isFolder ? components[0] + "/" : components[0] }

    /// Checks a raw entry name. Pure: safe to fuzz.
    public static func check(_ name: [UInt8]) throws(ArchiveError) -> EntryName {
        func refuse(_ problem: ArchiveError.NameProblem) -> ArchiveError {
            .badName(name: printable(name), problem: problem)
        }
        if name.isEmpty { throw refuse(.empty) }
        if name.count > maximumBytes { throw refuse(.tooLong) }
        if !isUTF8(name) { throw refuse(.notUTF8) }
        for byte in name where byte < 0x20 || byte == 0x7F { throw refuse(.controlCharacter) }
        if name.contains(UInt8(ascii: "\\")) { throw refuse(.backslash) }
        if name[0] == UInt8(ascii: "/") { throw refuse(.absolute) }

        let isFolder = name[name.count - 1] == UInt8(ascii: "/")
        let body = isFolder ? name[0..<(name.count - 1)] : name[...]
        var components: [String] = []
        // Checked in one pass, `..` first so that "a//../b" reads as an escape.
        var problem: ArchiveError.NameProblem?
        for part in body.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if part.count == 2 && part.first == UInt8(ascii: ".") && part.last == UInt8(ascii: ".") {
                throw refuse(.escapes)
            }
            if problem != nil { continue }
            if part.isEmpty { problem = .emptyComponent }
            else if part.count == 1 && part.first == UInt8(ascii: ".") { problem = .dotComponent }
            else if part.count > maximumComponentBytes { problem = .componentTooLong }
            else { components.append(String(decoding: part, as: UTF8.self)) }
        }
        if let problem { throw refuse(problem) }
        return EntryName(components: components, isFolder: isFolder)
    }

    /// Valid UTF-8 (no overlong forms, surrogates or truncated sequences):
    /// decoding would have replaced any of those, changing the bytes.
    static func isUTF8(_ bytes: [UInt8]) -> Bool {
        var ascii = true
        for byte in bytes where byte >= 0x80 { ascii = false; break }
        if ascii { return true }
        return Array(String(decoding: bytes, as: UTF8.self).utf8) == bytes
    }

    /// A name as it may appear in a remark: printable ASCII as is, other
    /// bytes as `\xHH` when the name is not clean UTF-8, and cut at 200 bytes.
    package static func printable(_ name: [UInt8]) -> String {
        let shown = name.count > 200 ? Array(name[0..<200]) : name
        var clean = isUTF8(shown)
        for byte in shown where byte < 0x20 || byte == 0x7F { clean = false; break }
        var text = shown
        if !clean {
            let digits = Array("0123456789abcdef".utf8)
            text = []
            for byte in shown {
                if byte >= 0x20 && byte < 0x7F { text.append(byte) }
                else { text += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
            }
        }
        if name.count > 200 { text += Array("...".utf8) }
        return String(decoding: text, as: UTF8.self)
    }

    package func joined(_ parts: ArraySlice<String>) -> String {
        var text = ""
        for part in parts {
            if !text.isEmpty { text += "/" }
            text += part
        }
        return text
    }
}

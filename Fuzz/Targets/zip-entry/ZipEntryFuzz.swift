// Zip entry names and attributes (EntryName.check, EntryAttributes). Input:
// the host system byte, 4 bytes of external attributes (little endian), then
// the raw name. Invariants: a name accepted is relative, with no `..`, `.`
// or empty component, valid UTF-8 without control characters or backslashes,
// and rebuilds exactly from its components; a simple reference of the rules
// agrees; modes never carry setuid, setgid or sticky and always let the agent
// remove what it wrote; links and special files are refused.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_zip_entry_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard input.count >= 5 else { return 0 }
    let system = input[0]
    let attributes = UInt32(input[1]) | UInt32(input[2]) << 8 | UInt32(input[3]) << 16 | UInt32(input[4]) << 24
    let raw = Array(input[5...])

    let name: EntryName
    do {
        name = try EntryName.check(raw)
    } catch {
        expect(isOneLine(error.remark) && error.remark.utf8.count < 1200, "refusal: \(error.remark)")
        expect(!referenceAccepts(raw), "refused a good name: \(EntryName.printable(raw))")
        return 0
    }
    expect(referenceAccepts(raw), "accepted a bad name: \(EntryName.printable(raw))")
    expect(!name.components.isEmpty, "no components")
    for component in name.components {
        let c = component.utf8
        expect(!c.isEmpty && c.count <= EntryName.maximumComponentBytes && !c.contains(UInt8(ascii: "/")), "component")
        expect(component != "." && component != "..", "dot component accepted")
    }
    expect(Array((name.path + (name.isFolder ? "/" : "")).utf8) == raw, "name does not rebuild from its components")
    expect(name.path.utf8.first != UInt8(ascii: "/"), "absolute path")

    let mode = EntryAttributes.unixMode(system: system, attributes: attributes)
    if let mode { expect(system == EntryAttributes.unixSystem && mode == attributes >> 16 && mode != 0, "unix mode") }
    let isFolder: Bool
    do {
        isFolder = try EntryAttributes.isFolder(unixMode: mode, name: name, path: name.path)
    } catch {
        let type = (mode ?? 0) & 0o170000
        expect(type != 0 && type != 0o100000 && type != 0o040000, "refused a file or folder")
        expect(error == (type == 0o120000 ? .symbolicLink(name: name.path) : .specialFile(name: name.path)), "refusal")
        return 0
    }
    if mode == nil { expect(isFolder == name.isFolder, "type without a mode") }
    if let mode, mode & 0o170000 == 0o040000 { expect(isFolder, "folder mode not a folder") }
    let file = EntryAttributes.fileMode(unixMode: mode)
    let folder = EntryAttributes.folderMode(unixMode: mode)
    expect(file & ~0o777 == 0 && file & 0o600 == 0o600, "file mode \(file)")
    expect(folder & ~0o777 == 0 && folder & 0o700 == 0o700, "folder mode \(folder)")
    return 0
}

/// The rules of EntryName's documentation, written plainly.
private func referenceAccepts(_ raw: [UInt8]) -> Bool {
    guard raw.count >= 1 && raw.count <= 1024, String(validating: raw, as: UTF8.self) != nil else { return false }
    guard !raw.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }), raw[0] != UInt8(ascii: "/") else { return false }
    let body = raw.last == UInt8(ascii: "/") ? raw.dropLast() : raw[...]
    return body.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).allSatisfy {
        !$0.isEmpty && $0.count <= 255 && !$0.elementsEqual(".".utf8) && !$0.elementsEqual("..".utf8)
    }
}

// URLs from commands and redirect `Location`s (HTTPURL.parse, resolving,
// removingDotSegments). Input: a base URL, optionally a newline and a
// reference to resolve against it. Invariants: an accepted URL survives
// text → parse; a resolved one too; a relative reference keeps the base's
// scheme, host and port and leaves no dot segments; dot removal is idempotent.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_http_url_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let newline = input.firstIndex(of: 10)
    let base = String(decoding: input[..<(newline ?? input.endIndex)], as: UTF8.self)
    let reference = newline.map { String(decoding: input[($0 + 1)...], as: UTF8.self) }

    if let reference {
        let path = HTTPURL.removingDotSegments(Array(("/" + reference).utf8))
        expect(path.first == UInt8(ascii: "/") && !hasDotSegment(path), "dot segments left: \(reference)")
        expect(HTTPURL.removingDotSegments(path) == path, "dot removal not idempotent: \(reference)")
    }

    let url: HTTPURL
    do { url = try HTTPURL.parse(base) } catch {
        expect(isOneLine(error.reason), "refusal: \(error.reason)")
        return 0
    }
    check(url)
    guard let reference else { return 0 }
    let resolved: HTTPURL
    do { resolved = try url.resolving(reference) } catch {
        expect(isOneLine(error.reason), "refusal: \(error.reason)")
        return 0
    }
    check(resolved)
    let ref = Array(reference.utf8)
    let colon = ref.firstIndex(of: UInt8(ascii: ":"))
    let hasScheme = colon.map { c in !ref[..<c].contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } } ?? false
    if !hasScheme && !ref.starts(with: Array("//".utf8)) {
        expect(resolved.scheme == url.scheme && resolved.host == url.host && resolved.port == url.port, "relative reference moved host")
        let ownPath = ref.first == UInt8(ascii: "?") || ref.first == UInt8(ascii: "#")
        expect(ownPath || !hasDotSegment(Array(resolved.path.utf8)), "dot segments in \(resolved.text)")
    }
    return 0
}

private func check(_ url: HTTPURL) {
    let target = Array(url.target.utf8)
    expect(target.first == UInt8(ascii: "/") && !target.contains(UInt8(ascii: "#")), "target \(url.target)")
    expect(!url.host.isEmpty && url.host == url.host.lowercased() && !url.host.contains("@"), "host \(url.host)")
    expect(url.port >= 1, "port")
    expect(url.text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "text \(url.text)")
    expect((try? HTTPURL.parse(url.text)) == url, "URL changed by text → parse: \(url.text)")
}

/// A `.` or `..` segment in an absolute path.
private func hasDotSegment(_ path: [UInt8]) -> Bool {
    path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).contains {
        $0.elementsEqual(".".utf8) || $0.elementsEqual("..".utf8)
    }
}

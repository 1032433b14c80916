// An HTTP response's status line and headers (ResponseHead.parse, with
// Content-Range and Content-Length). Invariants: what follows the empty line
// changes nothing; an accepted head is within its limits and survives
// write → parse; every refusal is one line.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_http_head_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let outcome = parse(input)
    if let end = input.withUnsafeBytes({ ResponseHead.end(in: $0) }) {
        expect(end >= 4 && input[(end - 4)..<end].elementsEqual([13, 10, 13, 10]), "end of head")
        expect(parse(Array(input[..<end])) == outcome, "bytes after the head changed the head")
    }
    switch outcome {
    case .failure(let error):
        expect(isOneLine(error.reason), "refusal: \(error.reason)")
    case .success(let head):
        check(head)
        var text = "HTTP/1.1 \(head.status)" + (head.reason.isEmpty ? "" : " " + head.reason) + "\r\n"
        for header in head.headers { text += header.name + ": " + header.value + "\r\n" }
        text += "\r\n"
        expect(parse(Array(text.utf8)) == outcome, "head changed by write → parse: \(text)")
    }
    return 0
}

private func parse(_ bytes: [UInt8]) -> Result<ResponseHead, HTTPError> {
    do { return .success(try ResponseHead.parse(bytes)) } catch { return .failure(error) }
}

private func check(_ head: ResponseHead) {
    expect(head.status >= 100 && head.status <= 599, "status \(head.status)")
    expect(isOneLine(head.reason), "reason")
    expect(head.headers.count <= ResponseHead.maximumHeaderCount, "header count")
    for header in head.headers {
        expect(!header.name.isEmpty && header.name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !($0 >= 0x41 && $0 <= 0x5A) },
               "header name \(header.name)")
        let value = header.value.utf8
        expect(isOneLine(header.value) && value.first != 32 && value.first != 9 && value.last != 32 && value.last != 9,
               "header value \(header.value)")
        expect(head.value(of: header.name.uppercased()) != nil, "header look-up")
    }
    if head.isChunked { expect(head.contentLength == nil, "chunked with a length") }
    if let length = head.contentLength { expect(length >= 0, "negative length") }
    if let range = head.contentRange {
        if let total = range.total { expect(total >= 0 && (range.range.map { $0.upperBound < total } ?? true), "range past total") }
        if let r = range.range { expect(r.lowerBound >= 0, "negative range") } else { expect(range.total != nil, "bytes */*") }
    }
}

// A chunked body's framing (ChunkedDecoder). The first input byte picks how
// the rest is split into reads. Invariants: the decoded body, the bytes
// consumed, the end and any refusal are the same however the bytes arrive;
// the decoder always makes progress; body bytes come from the input.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_http_chunked_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

struct Decoded: Equatable {
    var body: [UInt8] = []
    var consumed = 0
    var finished = false
    var refusal: String?
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let first = input.first else { return 0 }
    let stream = Array(input.dropFirst())
    let whole = decode(stream, reads: [stream.count])
    // One byte at a time, and reads of a length the first byte picks.
    expect(decode(stream, reads: Array(repeating: 1, count: stream.count)) == whole, "byte-at-a-time decode differs")
    let length = Int(first) + 1
    let reads = Array(repeating: length, count: stream.count / length) + [stream.count % length]
    expect(decode(stream, reads: reads) == whole, "decode in \(length)-byte reads differs")
    expect(whole.refusal != nil || (whole.body.count <= whole.consumed && whole.consumed <= stream.count), "more body than input")
    if let refusal = whole.refusal { expect(isOneLine(refusal), "refusal: \(refusal)") }
    if whole.finished { expect(stream[..<whole.consumed].suffix(2).elementsEqual([13, 10]), "finished without CRLF") }
    return 0
}

/// Feeds `stream` in reads of the given lengths, as the download loop does.
private func decode(_ stream: [UInt8], reads: [Int]) -> Decoded {
    var decoder = ChunkedDecoder()
    var result = Decoded()
    var start = 0
    stream.withUnsafeBytes { all in
        for length in reads where length > 0 {
            let read = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
            start += length
            var offset = 0
            while offset < read.count && !decoder.isFinished {
                let step: (consumed: Int, body: Range<Int>)
                do throws(HTTPError) {
                    step = try decoder.decode(UnsafeRawBufferPointer(rebasing: read[offset...]))
                } catch {
                    // Bytes consumed before a refusal depend on the reads; the refusal does not.
                    result.refusal = error.reason
                    result.consumed = -1
                    return
                }
                expect(step.consumed > 0, "no progress")
                expect(step.body.upperBound == step.consumed && step.body.lowerBound >= 0, "body not at the end of the consumed bytes")
                result.body += read[(offset + step.body.lowerBound)..<(offset + step.body.upperBound)]
                offset += step.consumed
                result.consumed += step.consumed
            }
            if decoder.isFinished { break }
        }
    }
    result.finished = decoder.isFinished
    return result
}

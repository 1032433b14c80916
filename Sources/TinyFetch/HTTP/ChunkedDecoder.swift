import TinyBase

/// Decodes a `Transfer-Encoding: chunked` body incrementally, fed arbitrary splits of the
/// bytes: a pure state machine (a fuzz target) that copies nothing. Chunk extensions are
/// ignored, trailers skipped; size and trailer lines are capped.
public struct ChunkedDecoder {
    public static let maximumLineLength = 4096
    public static let maximumTrailerBytes = 16 * 1024

    private enum State: Equatable {
        case size            // hex digits of the chunk size
        case sizeExtension   // after the digits, up to CR: `;name=value` or spaces
        case sizeLF
        case data(Int64)     // bytes of chunk data still to come
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF
        case finalLF
        case done
    }

    private var state = State.size
    private var size: Int64 = 0
    private var digits = 0
    private var lineLength = 0
    private var trailerBytes = 0

    public init() {}

    /// Whether the last chunk and the trailer section have been read.
    public var isFinished: Bool { state == .done }

    /// Reads framing from `input` up to the next run of body bytes. Returns how many bytes
    /// of `input` were consumed and which of them (the tail of the consumed part, possibly
    /// empty) are body data. Call again with the rest; once finished, nothing is consumed.
    public mutating func decode(_ input: UnsafeRawBufferPointer) throws(HTTPError) -> (consumed: Int, body: Range<Int>) {
        var i = 0
        while i < input.count {
            if case .data(let remaining) = state {
                let n = Int(min(remaining, Int64(input.count - i)))
                state = remaining - Int64(n) == 0 ? .dataCR : .data(remaining - Int64(n))
                return (i + n, i..<(i + n))
            }
            if state == .done { break }
            try step(input[i])
            i += 1
        }
        return (i, i..<i)
    }

    private mutating func step(_ b: UInt8) throws(HTTPError) {
        switch state {
        case .size:
            try countLine()
            if let v = Hex.value(b) {
                guard digits < 15 else { throw .badResponse("chunk size too large") }
                size = size << 4 | Int64(v)
                digits += 1
            } else if digits > 0 && (b == UInt8(ascii: ";") || b == 32 || b == 9) {
                state = .sizeExtension
            } else if digits > 0 && b == 13 {
                state = .sizeLF
            } else {
                throw .badResponse("bad chunk size line")
            }
        case .sizeExtension:
            try countLine()
            if b == 13 { state = .sizeLF } else if b < 0x20 && b != 9 || b == 0x7F { throw .badResponse("control character in a chunk extension") }
        case .sizeLF:
            guard b == 10 else { throw .badResponse("chunk size line without CRLF") }
            state = size == 0 ? .trailerLineStart : .data(size)
            size = 0
            digits = 0
            lineLength = 0
        case .dataCR:
            guard b == 13 else { throw .badResponse("chunk data longer than its size") }
            state = .dataLF
        case .dataLF:
            guard b == 10 else { throw .badResponse("chunk data not followed by CRLF") }
            state = .size
        case .trailerLineStart:
            try countTrailer()
            state = b == 13 ? .finalLF : .trailerLine
            if b == 10 { throw .badResponse("LF without CR in the trailer") }
        case .trailerLine:
            try countTrailer()
            try countLine()
            if b == 13 { state = .trailerLF } else if b == 10 { throw .badResponse("LF without CR in the trailer") }
        case .trailerLF:
            guard b == 10 else { throw .badResponse("CR without LF in the trailer") }
            lineLength = 0
            state = .trailerLineStart
        case .finalLF:
            guard b == 10 else { throw .badResponse("CR without LF after the last chunk") }
            state = .done
        case .data, .done:
            break  // handled by decode
        }
    }

    private mutating func countLine() throws(HTTPError) {
        lineLength += 1
        if lineLength > ChunkedDecoder.maximumLineLength {
            throw .badResponse("chunk line longer than \(ChunkedDecoder.maximumLineLength) bytes")
        }
    }

    private mutating func countTrailer() throws(HTTPError) {
        trailerBytes += 1
        if trailerBytes > ChunkedDecoder.maximumTrailerBytes {
            throw .badResponse("trailer longer than \(ChunkedDecoder.maximumTrailerBytes) bytes")
        }
    }
}

import Testing
@testable import TinyFetch
@testable import TinyBase
import TestSupport

private func badURLReason(_ text: String) -> String? {
    do {
        _ = try HTTPURL.parse(text)
        return nil
    } catch {
        return error.reason
    }
}

@Suite struct HTTPURLTests {
    @Test func anHTTPSURLSplitsIntoHostPortAndTarget() throws {
        let url = try HTTPURL.parse("https://Updates.Example.com:8443/a/b.zip?x=1&y=2#frag")
        #expect(url.scheme == .https)
        #expect(url.host == "updates.example.com")
        #expect(url.port == 8443)
        #expect(url.target == "/a/b.zip?x=1&y=2")
        #expect(url.path == "/a/b.zip")
        #expect(url.authority == "updates.example.com:8443")
        #expect(url.text == "https://updates.example.com:8443/a/b.zip?x=1&y=2")
    }

    @Test func defaultPortsAndEmptyPathsAreFilledIn() throws {
        let https = try HTTPURL.parse("https://host")
        #expect(https.port == 443 && https.target == "/" && https.authority == "host")
        let http = try HTTPURL.parse("HTTP://host?q")
        #expect(http.scheme == .http && http.port == 80 && http.target == "/?q")
    }

    @Test func anIPv6LiteralKeepsItsBracketsOnlyInTheAuthority() throws {
        let url = try HTTPURL.parse("http://[::1]:8080/x")
        #expect(url.host == "::1")
        #expect(url.port == 8080)
        #expect(url.authority == "[::1]:8080")
        let v4 = try HTTPURL.parse("https://127.0.0.1/x")
        #expect(v4.host == "127.0.0.1" && v4.authority == "127.0.0.1")
    }

    @Test func badURLsAreRefusedWithAOneLineReason() {
        #expect(badURLReason("ftp://host/x") == "unsupported scheme 'ftp' (http or https)")
        #expect(badURLReason("host/x")?.hasPrefix("no scheme") == true)
        #expect(badURLReason("https:///x") == "no host")
        #expect(badURLReason("https://user:pw@host/x") == "user names and passwords in URLs are not supported")
        #expect(badURLReason("https://host:0/") == "bad port '0'")
        #expect(badURLReason("https://host:65536/") == "bad port '65536'")
        #expect(badURLReason("https://host:/") == "bad port ''")
        #expect(badURLReason("https://host:80x/") == "bad port '80x'")
        #expect(badURLReason("https://ho st/") == "contains a space, a control character or a non-ASCII byte")
        #expect(badURLReason("https://host/\u{7}") != nil)
        #expect(badURLReason("https://hös t/") != nil)
        #expect(badURLReason("https://[::1/") == "IPv6 address without ']'")
        #expect(badURLReason("https://[zz]/") == "bad IPv6 address [zz]")
        #expect(badURLReason("https://[::1]x/") == "unexpected characters after ']'")
        #expect(badURLReason("https://a:1:2/") == "bad port '1:2'")
        #expect(badURLReason("https://bad!host/") == "bad host name 'bad!host'")
        #expect(badURLReason("https://h/" + String(repeating: "a", count: 5000)) == "longer than 4096 bytes")
    }

    @Test func redirectLocationsResolveAgainstTheRequestURL() throws {
        let base = try HTTPURL.parse("https://host:8443/a/b/c.zip?old")
        #expect(try base.resolving("https://other/x").text == "https://other/x")
        #expect(try base.resolving("http://other:81/x").text == "http://other:81/x")
        #expect(try base.resolving("//cdn.example/y.zip").text == "https://cdn.example/y.zip")
        #expect(try base.resolving("/root.zip?v=2").text == "https://host:8443/root.zip?v=2")
        #expect(try base.resolving("d.zip").text == "https://host:8443/a/b/d.zip")
        #expect(try base.resolving("../d.zip").text == "https://host:8443/a/d.zip")
        #expect(try base.resolving("./x/../../../../d.zip").text == "https://host:8443/d.zip")
        #expect(try base.resolving("?new").text == "https://host:8443/a/b/c.zip?new")
        #expect(try base.resolving("/a/./b/../c/#frag").text == "https://host:8443/a/c/")
        #expect(throws: BadURL.self) { try base.resolving("") }
        #expect(throws: BadURL.self) { try base.resolving("gopher://x/") }
        #expect(throws: BadURL.self) { try base.resolving("/with space") }
    }
}

private func head(_ text: String) throws(HTTPError) -> ResponseHead {
    try ResponseHead.parse(Array(text.utf8))
}

private func badResponseReason(_ text: String) -> String? {
    do {
        _ = try head(text)
        return nil
    } catch {
        if case .badResponse(let why) = error { return why }
        return "unexpected \(error)"
    }
}

@Suite struct ResponseHeadTests {
    @Test func aStatusLineAndHeadersParseWithCaseInsensitiveNames() throws {
        let h = try head("HTTP/1.1 206 Partial Content\r\nETag: \"abc\"\r\nlast-MODIFIED: Tue, 15 Nov 1994 08:12:31 GMT\r\n"
                         + "Content-Length:  100 \r\nContent-Range: bytes 100-199/1000\r\nX-Empty:\r\n\r\n")
        #expect(h.status == 206 && h.reason == "Partial Content")
        #expect(h.statusLine == "HTTP 206 Partial Content")
        #expect(h.etag == "\"abc\"")
        #expect(h.lastModified == "Tue, 15 Nov 1994 08:12:31 GMT")
        #expect(h.contentLength == 100)
        #expect(h.contentRange == ContentRange(range: 100...199, total: 1000))
        #expect(h.value(of: "x-empty") == "")
        #expect(h.value(of: "CONTENT-length") == "100")
        #expect(h.headers.count == 5)
        #expect(!h.isChunked)
    }

    @Test func aStatusLineWithoutAReasonIsAccepted() throws {
        let h = try head("HTTP/1.0 404\r\n\r\n")
        #expect(h.status == 404 && h.reason == "" && h.statusLine == "HTTP 404")
    }

    @Test func chunkedWinsOverContentLength() throws {
        let h = try head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: Chunked\r\n\r\n")
        #expect(h.isChunked && h.contentLength == nil)
    }

    @Test func equalRepeatedContentLengthsAreOneLength() throws {
        #expect(try head("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7, 7\r\n\r\n").contentLength == 7)
    }

    @Test func malformedHeadsAreRefusedWithAReason() {
        #expect(badResponseReason("") == "empty response")
        #expect(badResponseReason("HTTP/2 200 OK\r\n\r\n") == "not an HTTP/1.x status line")
        #expect(badResponseReason("HTTP/1.1 20 OK\r\n\r\n") == "not an HTTP/1.x status line")
        #expect(badResponseReason("HTTP/1.1 200OK\r\n\r\n") == "not an HTTP/1.x status line")
        #expect(badResponseReason("HTTP/1.1 099 Low\r\n\r\n") == "status 99 out of range")
        #expect(badResponseReason("HTTP/1.1 200 OK\nA: b\r\n\r\n") == "LF without CR in the head")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n") == "CR without LF in the head")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\n folded\r\n\r\n") == "folded header line")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n") == "header line without a name")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n") == "bad header name")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") == "conflicting Content-Length values")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n") == "conflicting Content-Length values")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") == "bad Content-Length '-1'")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n") == "bad Content-Length '0x10'")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n") == "bad Content-Length ''")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n") != nil)
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == "unsupported Transfer-Encoding 'gzip, chunked'")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nA: \u{1}\r\n\r\n") == "control character in header 'a'")
        #expect(badResponseReason("HTTP/1.1 200 OK\r\nA: x\u{0}y\r\n\r\n") == "NUL byte in the head")
        #expect(badResponseReason("HTTP/1.1 206 OK\r\nContent-Range: bytes 5-4/10\r\n\r\n") == "bad Content-Range 'bytes 5-4/10'")
        #expect(badResponseReason("HTTP/1.1 206 OK\r\nContent-Range: bytes 5-10/10\r\n\r\n") == "bad Content-Range 'bytes 5-10/10'")
        #expect(badResponseReason("HTTP/1.1 206 OK\r\nContent-Range: items 1-2/3\r\n\r\n") == "bad Content-Range 'items 1-2/3'")
        #expect(badResponseReason("HTTP/1.1 206 OK\r\nContent-Range: bytes */*\r\n\r\n") == "bad Content-Range 'bytes */*'")
    }

    @Test func contentRangeFormsParse() throws {
        #expect(try ResponseHead.parseContentRange("bytes 0-0/1") == ContentRange(range: 0...0, total: 1))
        #expect(try ResponseHead.parseContentRange("bytes 10-19/*") == ContentRange(range: 10...19, total: nil))
        #expect(try ResponseHead.parseContentRange("bytes */500") == ContentRange(range: nil, total: 500))
    }

    @Test func linesAndHeaderCountAreCapped() {
        let long = "HTTP/1.1 200 OK\r\nA: " + String(repeating: "x", count: ResponseHead.maximumLineLength) + "\r\n\r\n"
        #expect(badResponseReason(long) == "head line longer than 8192 bytes")
        var many = "HTTP/1.1 200 OK\r\n"
        for i in 0...ResponseHead.maximumHeaderCount { many += "H\(i): v\r\n" }
        #expect(badResponseReason(many + "\r\n") == "more than 100 header lines")
    }

    @Test func theEndOfAHeadIsFoundOnlyOnceComplete() {
        let text = Array("HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody".utf8)
        text.withUnsafeBytes { raw in
            #expect(ResponseHead.end(in: raw) == text.count - 4)
            #expect(ResponseHead.end(in: UnsafeRawBufferPointer(rebasing: raw[0..<(text.count - 5)])) == nil)
        }
    }

    @Test func bodylessStatusesHaveNoBody() throws {
        #expect(try !head("HTTP/1.1 204 No Content\r\n\r\n").hasBody)
        #expect(try !head("HTTP/1.1 304 Not Modified\r\n\r\n").hasBody)
        #expect(try head("HTTP/1.1 200 OK\r\n\r\n").hasBody)
    }
}

/// Feeds `input` to a decoder in pieces cut at `cuts`, collecting the body.
private func decodeChunked(_ input: [UInt8], cuts: [Int]) throws(HTTPError) -> (body: [UInt8], finished: Bool, leftover: Int) {
    var decoder = ChunkedDecoder()
    var body: [UInt8] = []
    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    for cut in cuts.sorted() + [input.count] where cut >= start {
        pieces.append(input[start..<cut])
        start = cut
    }
    var leftover = 0
    for piece in pieces {
        var rest = Array(piece)
        while !rest.isEmpty {
            let step = try withBytes(of: rest) { (raw) throws(HTTPError) in try decoder.decode(raw) }
            body.append(contentsOf: rest[step.body])
            if step.consumed == 0 {
                leftover += rest.count
                break
            }
            rest.removeFirst(step.consumed)
        }
    }
    return (body, decoder.isFinished, leftover)
}

private func chunkedReason(_ text: String) -> String? {
    do {
        _ = try decodeChunked(Array(text.utf8), cuts: [])
        return nil
    } catch {
        if case .badResponse(let why) = error { return why }
        return "unexpected \(error)"
    }
}

@Suite struct ChunkedDecoderTests {
    static func encode(_ body: [UInt8], sizes: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        var i = 0
        while offset < body.count {
            let n = min(sizes[i % sizes.count], body.count - offset)
            let ext = i % 3 == 1 ? ";name=\"v\"" : (i % 3 == 2 ? " ; x" : "")
            out += Array((String(n, radix: 16, uppercase: i % 2 == 0) + ext + "\r\n").utf8)
            out += body[offset..<(offset + n)]
            out += Array("\r\n".utf8)
            offset += n
            i += 1
        }
        out += Array("0\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n".utf8)
        return out
    }

    @Test func anyFewSplitsOfAChunkedBodyDecodeToTheSameBytes() throws {
        var rng = SplitMix64(state: 42)
        for round in 0..<300 {
            let length = Int.random(in: 0...3000, using: &rng)
            let body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let sizes = (0..<4).map { _ in Int.random(in: 1...700, using: &rng) }
            let encoded = Self.encode(body, sizes: sizes)
            let cuts = (0..<Int.random(in: 0...12, using: &rng)).map { _ in Int.random(in: 0...encoded.count, using: &rng) }
            let result = try decodeChunked(encoded, cuts: cuts)
            #expect(result.body == body, "round \(round)")
            #expect(result.finished && result.leftover == 0, "round \(round)")
        }
    }

    @Test func byteAtATimeDecodingWorksToo() throws {
        let body = Array("hello, chunked world".utf8)
        let encoded = Self.encode(body, sizes: [1, 2, 5])
        let result = try decodeChunked(encoded, cuts: Array(0..<encoded.count))
        #expect(result.body == body && result.finished)
    }

    @Test func bytesAfterTheLastChunkAreNotConsumed() throws {
        let result = try decodeChunked(Array("3\r\nabc\r\n0\r\n\r\nEXTRA".utf8), cuts: [])
        #expect(result.body == Array("abc".utf8))
        #expect(result.finished && result.leftover == 5)
    }

    @Test func aBodyCutShortIsNotFinished() throws {
        let result = try decodeChunked(Array("a\r\n01234".utf8), cuts: [3])
        #expect(result.body == Array("01234".utf8) && !result.finished)
    }

    @Test func badFramingIsRefusedWithAReason() {
        #expect(chunkedReason("x\r\n") == "bad chunk size line")
        #expect(chunkedReason("\r\n") == "bad chunk size line")
        #expect(chunkedReason("3\nabc") == "bad chunk size line")
        #expect(chunkedReason("3;x\r\r") == "chunk size line without CRLF")
        #expect(chunkedReason("3\r\nabcd\r\n") == "chunk data longer than its size")
        #expect(chunkedReason("3\r\nabc\rX") == "chunk data not followed by CRLF")
        #expect(chunkedReason("1000000000000000\r\n") == "chunk size too large")
        #expect(chunkedReason("3;" + String(repeating: "e", count: 5000)) == "chunk line longer than 4096 bytes")
        #expect(chunkedReason("3;a\u{1}b\r\n") == "control character in a chunk extension")
        #expect(chunkedReason("0\r\nT: " + String(repeating: "t", count: 5000)) == "chunk line longer than 4096 bytes")
        #expect(chunkedReason("0\r\n\rX") == "CR without LF after the last chunk")
        #expect(chunkedReason("0\r\n\n") == "LF without CR in the trailer")
        var trailers = "0\r\n"
        for _ in 0..<500 { trailers += "T: " + String(repeating: "t", count: 60) + "\r\n" }
        #expect(chunkedReason(trailers) == "trailer longer than 16384 bytes")
    }
}

@Suite struct ResumeDecisionTests {
    let url = "https://host/a.zip"

    @Test func aPartialFileResumesOnlyWithASidecarForTheSameURL() {
        let sidecar = PartialDownload(url: url, etag: "\"e\"", lastModified: nil, total: 1000)
        #expect(PartialDownload.resumeOffset(sidecar: sidecar, partSize: 400, url: url) == 400)
        #expect(PartialDownload.resumeOffset(sidecar: sidecar, partSize: 400, url: url + "?v=2") == 0)
        #expect(PartialDownload.resumeOffset(sidecar: nil, partSize: 400, url: url) == 0)
        #expect(PartialDownload.resumeOffset(sidecar: sidecar, partSize: nil, url: url) == 0)
        #expect(PartialDownload.resumeOffset(sidecar: sidecar, partSize: 0, url: url) == 0)
        #expect(PartialDownload.resumeOffset(sidecar: sidecar, partSize: 1001, url: url) == 0)
    }

    @Test func aResumedRequestCarriesRangeAndTheStrongestValidator() {
        let strong = PartialDownload(url: url, etag: "\"e\"", lastModified: "Mon", total: nil)
        #expect(PartialDownload.resumeHeaders(offset: 400, sidecar: strong)
                == [HTTPHeader("Range", "bytes=400-"), HTTPHeader("If-Range", "\"e\"")])
        let weak = PartialDownload(url: url, etag: "W/\"e\"", lastModified: "Mon", total: nil)
        #expect(PartialDownload.resumeHeaders(offset: 400, sidecar: weak)
                == [HTTPHeader("Range", "bytes=400-"), HTTPHeader("If-Range", "Mon")])
        let none = PartialDownload(url: url, etag: nil, lastModified: nil, total: nil)
        #expect(PartialDownload.resumeHeaders(offset: 400, sidecar: none) == [HTTPHeader("Range", "bytes=400-")])
        #expect(PartialDownload.resumeHeaders(offset: 0, sidecar: strong).isEmpty)
    }

    private func response(_ text: String) -> ResponseHead { try! ResponseHead.parse(Array((text + "\r\n").utf8)) }

    @Test func responsesDecideWhetherToAppendRestartOrFail() {
        let full = response("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n")
        #expect(PartialDownload.decide(full, offset: 0) == .write(from: 0, total: 1000))
        #expect(PartialDownload.decide(full, offset: 400) == .write(from: 0, total: 1000))
        let tail = response("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 400-999/1000\r\nContent-Length: 600\r\n")
        #expect(PartialDownload.decide(tail, offset: 400) == .write(from: 400, total: 1000))
        #expect(PartialDownload.decide(tail, offset: 300) == .startOver)
        #expect(PartialDownload.decide(tail, offset: 0) == .fail(.transfer(.badResponse("206 for bytes 400-, not 0-"))))
        let noRange = response("HTTP/1.1 206 Partial Content\r\nContent-Length: 600\r\n")
        #expect(PartialDownload.decide(noRange, offset: 400) == .fail(.transfer(.badResponse("206 without a byte range"))))
        let unsatisfiable = response("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */1000\r\n")
        #expect(PartialDownload.decide(unsatisfiable, offset: 1000) == .complete)
        #expect(PartialDownload.decide(unsatisfiable, offset: 1200) == .startOver)
        #expect(PartialDownload.decide(unsatisfiable, offset: 0) == .fail(.httpStatus(416, "Range Not Satisfiable")))
        #expect(PartialDownload.decide(response("HTTP/1.1 404 Not Found\r\n"), offset: 400) == .fail(.httpStatus(404, "Not Found")))
    }

    @Test func removalOfThePartialFileDependsOnTheCause() {
        #expect(!DownloadError.httpStatus(404, "Not Found").keepsPartialFile)
        #expect(DownloadError.httpStatus(503, "Service Unavailable").keepsPartialFile)
        #expect(DownloadError.transfer(.idleTimeout(.seconds(60))).keepsPartialFile)
        #expect(!DownloadError.sha256Mismatch(got: "a", expected: "b").keepsPartialFile)
        #expect(DownloadError.bodyEnded(received: 1, expected: 2).remark == "download: body ended after 1 of 2 bytes")
        #expect(DownloadError.tooLarge(limit: 104857600).remark == "download: archive larger than the 104857600-byte limit")
        #expect(DownloadError.notEnoughSpace(need: 10, have: 5).remark == "download: not enough free space (need 10 bytes, have 5)")
        #expect(DownloadError.sha256Mismatch(got: String(repeating: "ab", count: 32), expected: String(repeating: "cd", count: 32)).remark
                == "download: sha256 mismatch (got abababababababab…, expected cdcdcdcdcdcdcdcd…)")
    }

    @Test func requestsAreSerializedAsHTTP11WithConnectionClose() throws {
        let post = HTTPRequest(.post, url: try HTTPURL.parse("http://[::1]:8080/api/panelmap"),
                               headers: [HTTPHeader("Content-Type", "application/json")], body: Array("{}".utf8))
        #expect(String(decoding: post.serialized, as: UTF8.self) ==
            "POST /api/panelmap HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: tinyagent/\(agentVersion)\r\n"
            + "Accept-Encoding: identity\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        let get = HTTPRequest(.get, url: try HTTPURL.parse("https://h/x?y"))
        #expect(String(decoding: get.serialized, as: UTF8.self).hasPrefix("GET /x?y HTTP/1.1\r\nHost: h\r\n"))
    }

    @Test func panelmapEndpointsAppendTheAPIPathOnce() throws {
        #expect(try PanelMap.endpoint("https://backend:8443").text == "https://backend:8443/api/panelmap")
        #expect(try PanelMap.endpoint("https://backend:8443/").text == "https://backend:8443/api/panelmap")
        #expect(try PanelMap.endpoint("https://backend/base/").text == "https://backend/base/api/panelmap")
        #expect(try PanelMap.endpoint("http://backend/api/panelmap").text == "http://backend/api/panelmap")
        #expect(try PanelMap.endpoint("https://backend/?k=1").text == "https://backend/api/panelmap?k=1")
        #expect(String(decoding: PanelMap.body(panelID: "a\"b"), as: UTF8.self) == "{\"panel_id\":\"a\\\"b\"}")
    }

    @Test func sha256MatchesAKnownDigest() {
        #expect(Hex.encode(SHA256.digest(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(SHA256.digest([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}

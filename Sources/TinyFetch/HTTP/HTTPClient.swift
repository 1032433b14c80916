import TinyBase

/// What an HTTP client call may do: whom to trust, how long to wait, how much to take.
public struct HTTPOptions: Sendable {
    /// The only CA trusted for https (PEM), e.g. certs/cacert.pem.
    public var caFile: String
    /// Whether http:// URLs (and redirects to them) are fetched; off except for tests and
    /// panelmap.
    public var allowPlainHTTP = false
    public var connectTimeout = Duration.seconds(30)
    /// No byte for this long fails the exchange.
    public var idleTimeout = Duration.seconds(60)
    /// The largest body a response may have.
    public var maximumBodyBytes: Int64 = 100 << 20
    public var maximumRedirects = 5

    public init(caFile: String) { self.caFile = caFile }
}

/// A GET or POST.
public struct HTTPRequest: Sendable {
    public enum Method: Sendable {
        case get, post
        package var name: String { self == .get ? "GET" : "POST" }
    }

    public var method: Method
    public var url: HTTPURL
    /// Extra headers (`Host`, `User-Agent`, `Connection` and `Content-Length` are added).
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(_ method: Method = .get, url: HTTPURL, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The request head and body as sent (HTTP/1.1, `Connection: close`).
    public var serialized: [UInt8] {
        var text = "\(method.name) \(url.target) HTTP/1.1\r\nHost: \(url.authority)\r\n"
        text += "User-Agent: tinyagent/\(agentVersion)\r\nAccept-Encoding: identity\r\nConnection: close\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        if method == .post || !body.isEmpty { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + body
    }
}

/// An HTTP/1.1 client for a process that may block (the update worker, the command line):
/// one request per connection, redirects followed, the body read by the caller in bounded
/// pieces.
public enum HTTPClient {
    /// Sends `request`, following up to `options.maximumRedirects` redirects (301, 302,
    /// 303, 307, 308; 303 and a redirected POST of 301/302 become a GET), and returns the
    /// final response with its head read and its body still to read. HTTPS may only
    /// redirect to HTTPS unless plain HTTP is allowed.
    public static func open(_ request: HTTPRequest, options: HTTPOptions) throws(HTTPError) -> HTTPResponse {
        var request = request
        if request.url.scheme == .http && !options.allowPlainHTTP { throw .plainHTTPRefused }
        var redirects = 0
        while true {
            let response = try openOnce(request, options: options)
            guard [301, 302, 303, 307, 308].contains(response.head.status), let location = response.head.location else {
                return response
            }
            response.close()
            guard redirects < options.maximumRedirects else { throw .tooManyRedirects(options.maximumRedirects) }
            redirects += 1
            let next: HTTPURL
            do { next = try request.url.resolving(location) } catch { throw HTTPError(error) }
            if next.scheme == .http && !options.allowPlainHTTP { throw .redirectToPlainHTTP }
            if response.head.status == 303 || (request.method == .post && response.head.status <= 302) {
                request.method = .get
                request.body = []
                request.headers.removeAll { ASCII.lowercased($0.name.utf8) == "content-type" }
            }
            request.url = next
        }
    }

    /// Sends `request` and reads the whole body, which must fit in `bodyLimit` bytes (for
    /// small API calls such as panelmap, not for downloads).
    public static func exchange(_ request: HTTPRequest, options: HTTPOptions, bodyLimit: Int = 1 << 20) throws(HTTPError) -> (head: ResponseHead, body: [UInt8]) {
        let response = try open(request, options: options)
        defer { response.close() }
        response.limit = Int64(bodyLimit)
        var body: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let n = try response.read(into: buffer)
            if n == 0 { return (response.head, body) }
            body.append(contentsOf: buffer[0..<n])
        }
    }

    private static func openOnce(_ request: HTTPRequest, options: HTTPOptions) throws(HTTPError) -> HTTPResponse {
        let connection = try NetConnection.open(request.url, caFile: options.caFile,
                                                connectTimeout: options.connectTimeout, idleTimeout: options.idleTimeout)
        try connection.writeAll(request.serialized)
        return try HTTPResponse(connection: connection, url: request.url, limit: options.maximumBodyBytes)
    }
}

/// A response whose head has been read; the body comes through `read(into:)` (framed by
/// Content-Length, chunked encoding, or the end of the connection when neither is given).
public final class HTTPResponse {
    /// The URL that answered (after redirects).
    public let url: HTTPURL
    public private(set) var head: ResponseHead
    /// The largest body accepted; the caller may change it before reading.
    public var limit: Int64
    /// Body bytes delivered so far.
    public private(set) var received: Int64 = 0

    private var connection: NetConnection?
    /// Bytes read past the head (or, for chunked bodies, raw bytes not yet decoded).
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var chunked: ChunkedDecoder?
    private var finished = false

    static let bufferSize = 32 * 1024

    package init(connection: NetConnection, url: HTTPURL, limit: Int64) throws(HTTPError) {
        self.connection = connection
        self.url = url
        self.limit = limit
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: HTTPResponse.bufferSize, alignment: 1)
        head = ResponseHead(status: 0, reason: "", headers: [], contentLength: nil, isChunked: false,
                            contentRange: nil, etag: nil, lastModified: nil, location: nil)
        do {
            // Informational (1xx) heads are skipped.
            repeat { head = try readHead() } while head.status < 200
        } catch {
            self.connection = nil
            throw error
        }
        if head.isChunked { chunked = ChunkedDecoder() }
        finished = !head.hasBody || head.contentLength == 0
    }

    deinit { buffer.deallocate() }

    public var status: Int { head.status }

    /// Closes the connection; later reads return 0.
    public func close() {
        connection = nil
        finished = true
    }

    /// The next body bytes into `into`; 0 once the body is complete. Throws when the
    /// connection ends early (`bodyEnded`), the body exceeds `limit`, or the framing is bad.
    public func read(into out: UnsafeMutableRawBufferPointer) throws(HTTPError) -> Int {
        if finished || out.count == 0 { return 0 }
        if let length = head.contentLength, length > limit { throw .bodyTooLarge(limit: limit) }
        let n: Int
        if chunked != nil {
            n = try readChunked(into: out)
        } else if let length = head.contentLength {
            let wanted = Int(min(Int64(out.count), length - received))
            n = try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: out[0..<wanted]))
            if n == 0 { throw .bodyEnded(received: received, expected: length) }
            if received + Int64(n) == length { finished = true }
        } else {
            n = try readRaw(into: out)
            if n == 0 { finished = true }
        }
        received += Int64(n)
        if received > limit { throw .bodyTooLarge(limit: limit) }
        if finished { connection = nil }
        return n
    }

    /// Buffered bytes first, then straight from the connection.
    private func readRaw(into out: UnsafeMutableRawBufferPointer) throws(HTTPError) -> Int {
        if start < end {
            let n = min(out.count, end - start)
            out.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
            start += n
            return n
        }
        guard let connection else { return 0 }
        return try connection.read(into: out)
    }

    private func readChunked(into out: UnsafeMutableRawBufferPointer) throws(HTTPError) -> Int {
        while true {
            if start == end {
                start = 0
                end = 0
                guard let connection else { return 0 }
                let n = try connection.read(into: buffer)
                if n == 0 { throw .bodyEnded(received: received, expected: nil) }
                end = n
            }
            // No more input than `out` holds, so a run of body bytes always fits.
            let available = UnsafeRawBufferPointer(rebasing: buffer[start..<min(end, start + out.count)])
            let step = try chunked!.decode(available)
            start += step.consumed
            if !step.body.isEmpty {
                out.baseAddress!.copyMemory(from: available.baseAddress! + step.body.lowerBound, byteCount: step.body.count)
                return step.body.count
            }
            if chunked!.isFinished {
                finished = true
                return 0
            }
        }
    }

    private func readHead() throws(HTTPError) -> ResponseHead {
        // Leftover bytes (after a 1xx head) move to the front.
        if start > 0 {
            let count = end - start
            if count > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: count) }
            start = 0
            end = count
        }
        while true {
            if let headEnd = ResponseHead.end(in: UnsafeRawBufferPointer(rebasing: buffer[0..<end])) {
                let head = try ResponseHead.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<headEnd]))
                start = headEnd
                return head
            }
            guard end < ResponseHead.maximumLength, let connection else {
                throw .badResponse("head longer than \(ResponseHead.maximumLength) bytes")
            }
            let n = try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end..<ResponseHead.maximumLength]))
            if n == 0 {
                throw end == 0 ? .badResponse("connection closed before a response") : .badResponse("connection closed in the response head")
            }
            end += n
        }
    }
}

import TinyBase

/// One archive to fetch over HTTPS.
public struct DownloadRequest: Sendable {
    public var url: String
    /// The only CA trusted (certs/cacert.pem, or a path naming an open descriptor).
    public var caFile: String
    public var maximumBytes: Int64 = 100 << 20
    /// Plain http URLs and redirects to them; for tests only.
    public var allowPlainHTTP = false
    public var connectTimeout = Duration.seconds(30)
    /// No byte for this long fails the download (it can be resumed).
    public var idleTimeout = Duration.seconds(60)
    /// The expected SHA-256 (32 bytes), when the command gave one.
    public var sha256: [UInt8]? = nil
    /// Free space to leave on the file system after the download.
    public var reserveBytes: Int64 = 0

    public init(url: String, caFile: String) {
        self.url = url
        self.caFile = caFile
    }
}

/// The file a download fills: an open descriptor (read-write, made empty by
/// whoever created it), and what a later attempt needs to continue it.
package struct DownloadTarget {
    package let file: FileDescriptor
    /// The server's validators for the bytes in `file`; nil when there is
    /// nothing to resume (the next attempt starts from byte 0).
    var partial: PartialDownload?

    package init(file: FileDescriptor) { self.file = file }
}

/// Resumable, bounded, verified downloads for the update worker (blocking I/O).
///
/// Bytes stream through one 64 KiB buffer into the target's descriptor: the
/// worker never opens the archive by path, so what it hashes and what it
/// unpacks is the one file it wrote. A cut or stalled attempt keeps its bytes
/// and validators (`PartialDownload`, in memory), and the next call continues
/// with `Range`/`If-Range`. Nothing carries over to another process: an agent
/// restarted mid-download starts over (RELIABILITY.md, threat model). The
/// finished file is fsynced and its SHA-256 checked when one is expected; a
/// 4xx, an over-size file or a SHA-256 mismatch empties it.
public enum Downloader {
    static let bufferSize = 64 * 1024

    /// Fetches `request.url` into `target`, calling `progress(bytes so far,
    /// total)` after each buffer (the caller rate-limits).
    package static func fetch(_ request: DownloadRequest, into target: inout DownloadTarget,
                             progress: (_ received: Int64, _ total: Int64?) -> Void) throws(DownloadError) {
        if let sha = request.sha256, sha.count != 32 { throw .badRequest("sha256 must be 32 bytes, not \(sha.count)") }
        let url: HTTPURL
        do { url = try HTTPURL.parse(request.url) } catch { throw .transfer(HTTPError(error)) }
        if url.scheme == .http && !request.allowPlainHTTP { throw .transfer(.plainHTTPRefused) }

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }

        let size = (try? target.file.status().size) ?? 0
        var offset = PartialDownload.resumeOffset(sidecar: target.partial, partSize: size, url: request.url)
        if offset == 0 { target.partial = nil }
        var startedOver = false
        var options = HTTPOptions(caFile: request.caFile)
        options.allowPlainHTTP = request.allowPlainHTTP
        options.connectTimeout = request.connectTimeout
        options.idleTimeout = request.idleTimeout
        options.maximumBodyBytes = request.maximumBytes

        while true {
            let get = HTTPRequest(.get, url: url, headers: PartialDownload.resumeHeaders(offset: offset, sidecar: target.partial))
            let response: HTTPResponse
            do { response = try HTTPClient.open(get, options: options) } catch { throw .transfer(error) }
            switch PartialDownload.decide(response.head, offset: offset) {
            case .write(let from, let total):
                do {
                    try receive(response, from: from, total: total, request: request, into: &target, buffer: buffer, progress: progress)
                } catch {
                    if !error.keepsPartialFile { discard(&target) }
                    throw error
                }
                return
            case .complete:
                response.close()
                try finish(request, target: &target, hasher: nil, buffer: buffer)
                progress(offset, offset)
                return
            case .startOver:
                response.close()
                guard !startedOver else { throw .httpStatus(response.status, response.head.reason) }
                startedOver = true
                discard(&target)
                offset = 0
            case .fail(let error):
                response.close()
                if !error.keepsPartialFile { discard(&target) }
                throw error
            }
        }
    }

    /// Streams the body into the file from byte `from` on, then finishes the file.
    private static func receive(_ response: HTTPResponse, from: Int64, total: Int64?, request: DownloadRequest,
                                into target: inout DownloadTarget, buffer: UnsafeMutableRawBufferPointer,
                                progress: (Int64, Int64?) -> Void) throws(DownloadError) {
        if let total, total > request.maximumBytes { throw .tooLarge(limit: request.maximumBytes) }
        let part = target.file
        if let free = part.freeBytes {
            // Starting over frees what the file holds now.
            let have = free + (from == 0 ? (try? part.status().size) ?? 0 : 0)
            let need = (total ?? from) - from + request.reserveBytes
            if need > have { throw .notEnoughSpace(need: need, have: have) }
        }
        let head = response.head
        let earlier = target.partial
        do {
            if from == 0 { try part.truncate(to: 0) }
            // Writes go on at the end: byte `from`.
            _ = try part.seekToEnd()
        } catch { throw .file("the archive", error) }
        target.partial = PartialDownload(url: request.url,
                                         etag: head.etag ?? (from > 0 ? earlier?.etag : nil),
                                         lastModified: head.lastModified ?? (from > 0 ? earlier?.lastModified : nil),
                                         total: total)

        let hasher: SHA256? = request.sha256 == nil ? nil : SHA256()
        if let hasher, from > 0 { try hashPrefix(of: part, bytes: from, into: hasher, buffer: buffer) }

        response.limit = request.maximumBytes - from
        var written = from
        progress(written, total)
        while true {
            let n: Int
            do { n = try response.read(into: buffer) } catch { throw DownloadError(error, offset: from, limit: request.maximumBytes) }
            if n == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            do { try part.writeAll(bytes) } catch { throw .file("the archive", error) }
            hasher?.update(bytes)
            written += Int64(n)
            progress(written, total)
        }
        if let total, written != total { throw .bodyEnded(received: written, expected: total) }
        try finish(request, target: &target, hasher: hasher, buffer: buffer)
    }

    /// fsyncs the complete file and checks its SHA-256 (hashing it now, from
    /// the descriptor, when no hasher saw it stream by).
    private static func finish(_ request: DownloadRequest, target: inout DownloadTarget, hasher: SHA256?,
                               buffer: UnsafeMutableRawBufferPointer) throws(DownloadError) {
        do { try target.file.sync() } catch { throw .file("the archive", error) }
        guard let expected = request.sha256 else { return }
        let got: [UInt8]
        if let hasher {
            got = hasher.finish()
        } else {
            let all = SHA256()
            try hashPrefix(of: target.file, bytes: (try? target.file.status().size) ?? 0, into: all, buffer: buffer)
            got = all.finish()
        }
        if got != expected {
            discard(&target)
            throw .sha256Mismatch(got: Hex.encode(got), expected: Hex.encode(expected))
        }
    }

    /// Empties the file: nothing in it may be resumed.
    private static func discard(_ target: inout DownloadTarget) {
        try? target.file.truncate(to: 0)
        target.partial = nil
    }

    /// Feeds the first `bytes` bytes of `file` to `hasher` (`pread`: the
    /// write position stays where it is).
    private static func hashPrefix(of file: FileDescriptor, bytes: Int64, into hasher: SHA256,
                                   buffer: UnsafeMutableRawBufferPointer) throws(DownloadError) {
        var at: Int64 = 0
        do throws(Errno) {
            while at < bytes {
                let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(bytes - at, Int64(buffer.count)))])
                let n = try file.read(into: chunk, at: at)
                if n == 0 { throw Errno(rawValue: 5) }  // EIO: shorter than it was a moment ago
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                at += Int64(n)
            }
        } catch {
            throw .file("the archive", error)
        }
    }
}

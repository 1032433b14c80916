import CShims

/// One archive to fetch over HTTPS into a file.
public struct DownloadRequest: Sendable {
    public var url: String
    /// Where the complete file ends up (renamed from `destination.part`).
    public var destination: String
    /// The only CA trusted (certs/cacert.pem).
    public var caFile: String
    public var maximumBytes: Int64 = 100 << 20
    /// Plain http URLs and redirects to them; for tests only.
    public var allowPlainHTTP = false
    public var connectTimeout = Duration.seconds(30)
    /// No byte for this long fails the download (it can be resumed later).
    public var idleTimeout = Duration.seconds(60)
    /// The expected SHA-256 (32 bytes), when the command gave one.
    public var sha256: [UInt8]? = nil
    /// Free space to leave on the file system after the download.
    public var reserveBytes: Int64 = 0

    public init(url: String, destination: String, caFile: String) {
        self.url = url
        self.destination = destination
        self.caFile = caFile
    }

    var partPath: String { destination + ".part" }
    var sidecarPath: String { destination + ".part.json" }
}

/// Resumable, bounded, verified downloads for the update worker (blocking I/O).
///
/// Bytes stream through one 64 KiB buffer into `destination.part`; the sidecar
/// `destination.part.json` (see `PartialDownload`) lets a later call, also from a new
/// process, continue with `Range`/`If-Range`. The finished file is fsynced, its SHA-256
/// checked when one is expected, then renamed to `destination`. An interrupted download
/// keeps its part file and sidecar; a 4xx, an over-size file or a SHA-256 mismatch removes
/// them.
public enum Downloader {
    static let bufferSize = 64 * 1024

    /// Fetches `request.url` into `request.destination`, calling `progress(bytes so far,
    /// total)` after each buffer (the caller rate-limits). Returns at once when the
    /// destination already exists (and matches the SHA-256 when one is given).
    public static func fetch(_ request: DownloadRequest, progress: (_ received: Int64, _ total: Int64?) -> Void) throws(DownloadError) {
        if let sha = request.sha256, sha.count != 32 { throw .badRequest("sha256 must be 32 bytes, not \(sha.count)") }
        let url: HTTPURL
        do { url = try HTTPURL.parse(request.url) } catch { throw .transfer(error) }
        if url.scheme == .http && !request.allowPlainHTTP { throw .transfer(.plainHTTPRefused) }

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }

        if let size = Files.size(request.destination) {
            guard let expected = request.sha256 else { progress(size, size); return }
            if try digest(of: request.destination, bytes: size, buffer: buffer) == expected { progress(size, size); return }
            Files.remove(request.destination)
        }

        var sidecar = ((try? Files.readTrusted(request.sidecarPath, limit: 16 * 1024)) ?? nil).flatMap(PartialDownload.parse)
        var offset = PartialDownload.resumeOffset(sidecar: sidecar, partSize: Files.size(request.partPath), url: request.url)
        if offset == 0 { sidecar = nil }
        var startedOver = false
        var options = HTTPOptions(caFile: request.caFile)
        options.allowPlainHTTP = request.allowPlainHTTP
        options.connectTimeout = request.connectTimeout
        options.idleTimeout = request.idleTimeout
        options.maximumBodyBytes = request.maximumBytes

        while true {
            let get = HTTPRequest(.get, url: url, headers: PartialDownload.resumeHeaders(offset: offset, sidecar: sidecar))
            let response: HTTPResponse
            do { response = try HTTPClient.open(get, options: options) } catch { throw .transfer(error) }
            switch PartialDownload.decide(response.head, offset: offset) {
            case .write(let from, let total):
                do {
                    try receive(response, from: from, total: total, earlier: sidecar, request: request, buffer: buffer, progress: progress)
                } catch {
                    if !error.keepsPartialFile { discardPartialFile(request) }
                    throw error
                }
                return
            case .complete:
                response.close()
                try finish(request, hasher: nil, buffer: buffer)
                progress(offset, offset)
                return
            case .startOver:
                response.close()
                guard !startedOver else { throw .httpStatus(response.status, response.head.reason) }
                startedOver = true
                discardPartialFile(request)
                offset = 0
                sidecar = nil
            case .fail(let error):
                response.close()
                if !error.keepsPartialFile { discardPartialFile(request) }
                throw error
            }
        }
    }

    /// Streams the body into the part file from byte `from` on, then finishes the file.
    private static func receive(_ response: HTTPResponse, from: Int64, total: Int64?, earlier: PartialDownload?,
                                request: DownloadRequest, buffer: UnsafeMutableRawBufferPointer,
                                progress: (Int64, Int64?) -> Void) throws(DownloadError) {
        if let total, total > request.maximumBytes { throw .tooLarge(limit: request.maximumBytes) }
        if let free = Files.freeBytes(under: Files.parent(of: request.partPath)) {
            // Starting over frees what the part file holds now.
            let have = free + (from == 0 ? Files.size(request.partPath) ?? 0 : 0)
            let need = (total ?? from) - from + request.reserveBytes
            if need > have { throw .notEnoughSpace(need: need, have: have) }
        }
        let head = response.head
        let record = PartialDownload(url: request.url,
                                     etag: head.etag ?? (from > 0 ? earlier?.etag : nil),
                                     lastModified: head.lastModified ?? (from > 0 ? earlier?.lastModified : nil),
                                     total: total)
        do { try Files.writeAtomically(request.sidecarPath, record.json, mode: 0o600) } catch { throw .file(request.sidecarPath, error) }

        let part: FileDescriptor
        do {
            part = from == 0
                ? FileDescriptor(try withCString(request.partPath) { (p) throws(Errno) in try valueOrErrno { ta_open_write_new(p, 0o644) } })
                : try Files.openAppend(request.partPath)
        } catch { throw .file(request.partPath, error) }
        defer { part.close() }

        let hasher: SHA256? = request.sha256 == nil ? nil : SHA256()
        if let hasher, from > 0 { try hashPrefix(of: request.partPath, bytes: from, into: hasher, buffer: buffer) }

        response.limit = request.maximumBytes - from
        var written = from
        progress(written, total)
        while true {
            let n: Int
            do { n = try response.read(into: buffer) } catch { throw DownloadError(error, offset: from, limit: request.maximumBytes) }
            if n == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            do { try part.writeAll(bytes) } catch { throw .file(request.partPath, error) }
            hasher?.update(bytes)
            written += Int64(n)
            progress(written, total)
        }
        if let total, written != total { throw .bodyEnded(received: written, expected: total) }
        do { try part.sync() } catch { throw .file(request.partPath, error) }
        try finish(request, hasher: hasher, buffer: buffer)
    }

    /// Checks the complete part file's SHA-256 (hashing it now when no hasher saw it
    /// stream by), renames it to the destination, and drops the sidecar.
    private static func finish(_ request: DownloadRequest, hasher: SHA256?, buffer: UnsafeMutableRawBufferPointer) throws(DownloadError) {
        if let expected = request.sha256 {
            let got: [UInt8]
            if let hasher {
                got = hasher.finish()
            } else {
                got = try digest(of: request.partPath, bytes: Files.size(request.partPath) ?? 0, buffer: buffer)
            }
            if got != expected {
                discardPartialFile(request)
                throw .sha256Mismatch(got: Hex.encode(got), expected: Hex.encode(expected))
            }
        }
        do { try Files.rename(request.partPath, to: request.destination) } catch { throw .file(request.destination, error) }
        Files.syncFolder(of: request.destination)
        Files.remove(request.sidecarPath)
    }

    private static func discardPartialFile(_ request: DownloadRequest) {
        Files.remove(request.partPath)
        Files.remove(request.sidecarPath)
    }

    private static func digest(of path: String, bytes: Int64, buffer: UnsafeMutableRawBufferPointer) throws(DownloadError) -> [UInt8] {
        let hasher = SHA256()
        try hashPrefix(of: path, bytes: bytes, into: hasher, buffer: buffer)
        return hasher.finish()
    }

    /// Feeds the first `bytes` bytes of the file at `path` to `hasher`.
    private static func hashPrefix(of path: String, bytes: Int64, into hasher: SHA256, buffer: UnsafeMutableRawBufferPointer) throws(DownloadError) {
        do throws(Errno) {
            let fd = FileDescriptor(try withCString(path) { (p) throws(Errno) in try valueOrErrno { ta_open_read(p) } })
            defer { fd.close() }
            var left = bytes
            while left > 0 {
                let n = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(left, Int64(buffer.count)))]))
                if n == 0 { throw Errno(rawValue: 5) }  // EIO: shorter than it was a moment ago
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                left -= Int64(n)
            }
        } catch {
            throw .file(path, error)
        }
    }
}

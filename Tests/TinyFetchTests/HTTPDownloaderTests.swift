import Foundation
import Testing
@testable import TinyFetch
@testable import TinyBase

/// tests/https/faultserver.py as a child process: HTTPS on localhost with a test CA made
/// by tests/xmpp/pki.py. It stops when its stdin closes (at the latest when the test
/// process exits). One server serves every test; each test uses its own file names.
final class FaultServerProcess: @unchecked Sendable {
    let folder: String
    let root: String
    let logFile: String
    let port: Int
    let caFile: String
    let rogueCAFile: String
    private let process = Process()
    private let input = Pipe()

    /// Started on first use; a failure to start fails each test that needs it.
    static let shared = Result { try FaultServerProcess(stallSeconds: 20) }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    init(stallSeconds: Double) throws {
        folder = NSTemporaryDirectory() + "tinyagent-https-\(UUID().uuidString)"
        root = folder + "/root"
        logFile = folder + "/requests.jsonl"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "tests.https.faultserver", "--port", "0", "--root", root,
                             "--pki", folder + "/pki", "--log", logFile, "--stall", "\(stallSeconds)",
                             "--remove-on-exit", folder]
        process.currentDirectoryURL = Self.repository
        process.standardInput = input
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { throw CocoaError(.fileReadUnknown) }
            line.append(more)
        }
        let info = try JSONSerialization.jsonObject(with: line) as! [String: Any]
        port = info["port"] as! Int
        caFile = info["ca"] as! String
        rogueCAFile = info["rogue_ca"] as! String
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }

    func url(_ path: String) -> String { "https://localhost:\(port)\(path)" }

    /// A new file of random bytes served as NAME (unique per call).
    func addFile(size: Int) throws -> (name: String, bytes: [UInt8]) {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let name = "f-\(UUID().uuidString).bin"
        try Data(bytes).write(to: URL(fileURLWithPath: root + "/" + name))
        return (name, bytes)
    }

    /// The logged requests whose path ends with `suffix`.
    func requests(endingWith suffix: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: logFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { ($0["path"] as? String)?.hasSuffix(suffix) == true }
    }
}

/// The Downloader against the fault server: real TLS, real files.
@Suite final class HTTPDownloaderTests {
    let server: FaultServerProcess
    let folder: String
    /// The archive file, open as the worker gets it, and what it remembers between attempts.
    var target: DownloadTarget

    init() throws {
        server = try FaultServerProcess.shared.get()
        folder = NSTemporaryDirectory() + "tinyagent-download-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let directory = try Folder.open(folder)
        defer { directory.close() }
        target = DownloadTarget(file: try directory.createNewForReadingAndWriting("archive.zip", mode: 0o600))
    }

    deinit {
        target.file.close()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The file holds `bytes`, and the earlier attempt's record says `partial`.
    func prefill(_ bytes: [UInt8], _ partial: PartialDownload?) throws {
        try target.file.truncate(to: 0)
        _ = try target.file.seekToEnd()
        try bytes.withUnsafeBytes { raw in try target.file.writeAll(raw) }
        target.partial = partial
    }

    /// Empty again, nothing to resume.
    func reset() throws { try prefill([], nil) }

    func request(_ path: String, _ configure: (inout DownloadRequest) -> Void = { _ in }) -> DownloadRequest {
        var r = DownloadRequest(url: server.url(path), caFile: server.caFile)
        r.idleTimeout = .seconds(5)
        r.connectTimeout = .seconds(5)
        configure(&r)
        return r
    }

    /// Runs a download; the error, or nil on success.
    @discardableResult
    func fetch(_ r: DownloadRequest, progress: ((Int64, Int64?) -> Void)? = nil) -> DownloadError? {
        do {
            try Downloader.fetch(r, into: &target) { received, total in progress?(received, total) }
            return nil
        } catch {
            return error
        }
    }

    func contents(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
    var destination: String { folder + "/archive.zip" }

    @Test func aCompleteDownloadLandsAtTheDestinationWithProgress() throws {
        let file = try server.addFile(size: 300_000)
        var calls: [(Int64, Int64?)] = []
        #expect(fetch(request("/file/\(file.name)")) { calls.append(($0, $1)) } == nil)
        #expect(contents(destination) == file.bytes)
        #expect(calls.count >= 3)
        #expect(calls.last! == (300_000, 300_000))
        let logged = server.requests(endingWith: file.name)
        #expect(logged.count == 1 && logged[0]["range"] is NSNull)
        #expect(logged[0]["user_agent"] as? String == "tinyagent/\(agentVersion)")
    }

    @Test func aMatchingSHA256IsAcceptedAndAMismatchEmptiesTheFile() throws {
        let file = try server.addFile(size: 100_000)
        let good = SHA256.digest(file.bytes)
        #expect(fetch(request("/file/\(file.name)") { $0.sha256 = good }) == nil)
        #expect(contents(destination) == file.bytes)

        try reset()
        var bad = good
        bad[0] ^= 1
        let error = fetch(request("/file/\(file.name)") { $0.sha256 = bad })
        #expect(error == .sha256Mismatch(got: Hex.encode(good), expected: Hex.encode(bad)))
        #expect(error?.remark.hasPrefix("download: sha256 mismatch (got \(Hex.encode(good).prefix(16))…") == true)
        #expect(contents(destination) == [] && target.partial == nil)
        #expect(fetch(request("/file/\(file.name)") { $0.sha256 = [1, 2, 3] }) == .badRequest("sha256 must be 32 bytes, not 3"))
    }

    @Test func bytesInTheFileThatThisRunDidNotFetchAreNeverUsed() throws {
        let file = try server.addFile(size: 1000)
        try prefill(file.bytes, nil)
        #expect(fetch(request("/file/\(file.name)")) == nil)
        #expect(server.requests(endingWith: file.name).map { $0["range"] is NSNull } == [true])
        #expect(contents(destination) == file.bytes)
    }

    @Test func aTruncatedBodyFailsAndKeepsThePartForLater() throws {
        let file = try server.addFile(size: 200_000)
        let error = fetch(request("/truncated/\(file.name)"))
        #expect(error == .bodyEnded(received: 100_000, expected: 200_000))
        #expect(error?.remark == "download: body ended after 100000 of 200000 bytes")
        #expect(contents(destination) == Array(file.bytes[0..<100_000]))
        #expect(target.partial != nil)
    }

    @Test func aBodyShorterThanItsContentLengthFails() throws {
        let file = try server.addFile(size: 50_000)
        #expect(fetch(request("/short/\(file.name)")) == .bodyEnded(received: 50_000, expected: 51_000))
    }

    @Test func aStalledServerFailsAfterTheIdleTimeout() throws {
        let file = try server.addFile(size: 200_000)
        let started = Date()
        let error = fetch(request("/stall/\(file.name)") { $0.idleTimeout = .seconds(1) })
        #expect(error == .transfer(.idleTimeout(.seconds(1))))
        #expect(error?.remark == "download: no data for 1 s")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(Files.size(destination) == 100_000)
    }

    @Test func aServerFromAnotherCAIsNotTrusted() throws {
        let file = try server.addFile(size: 1000)
        let error = fetch(request("/file/\(file.name)") { $0.caFile = server.rogueCAFile })
        #expect(error?.remark == "download: certificate not trusted")
        #expect(server.requests(endingWith: file.name).isEmpty)
        #expect(contents(destination) == [])
    }

    @Test func errorStatusesFailWithTheStatusLine() throws {
        #expect(fetch(request("/status/404"))?.remark == "download: HTTP 404 Not Found")
        #expect(fetch(request("/status/503"))?.remark == "download: HTTP 503 Service Unavailable")
    }

    @Test func aClientErrorDropsAPartialFileAndAServerErrorKeepsIt() throws {
        try prefill([1, 2, 3], PartialDownload(url: server.url("/status/404"), etag: nil, lastModified: nil, total: 10))
        #expect(fetch(request("/status/404")) == .httpStatus(404, "Not Found"))
        #expect(contents(destination) == [] && target.partial == nil)

        try prefill([1, 2, 3], PartialDownload(url: server.url("/status/503"), etag: nil, lastModified: nil, total: 10))
        #expect(fetch(request("/status/503")) == .httpStatus(503, "Service Unavailable"))
        #expect(contents(destination) == [1, 2, 3] && target.partial != nil)
        #expect(server.requests(endingWith: "/status/503").contains { $0["range"] as? String == "bytes=3-" })
    }

    @Test func redirectsAreFollowedUpToFive() throws {
        let file = try server.addFile(size: 10_000)
        #expect(fetch(request("/redirect/\(file.name)")) == nil)
        #expect(contents(destination) == file.bytes)
        try reset()
        #expect(fetch(request("/redirect-chain/5/\(file.name)")) == nil)
        try reset()
        #expect(fetch(request("/redirect-chain/6/\(file.name)")) == .transfer(.tooManyRedirects(5)))
    }

    @Test func aRedirectLoopStopsAfterFiveRedirects() {
        let error = fetch(request("/redirect-loop"))
        #expect(error?.remark == "download: too many redirects (5)")
    }

    @Test func aRedirectToPlainHTTPIsRefused() throws {
        let file = try server.addFile(size: 100)
        #expect(fetch(request("/redirect-http/\(file.name)"))?.remark == "download: redirect to plain http refused")
        var plain = request("/file/x")
        plain.url = "http://localhost:\(server.port)/file/x"
        #expect(fetch(plain)?.remark == "download: plain http refused (https required)")
    }

    @Test func aFileOverTheCapIsRefusedBeforeAndWhileStreaming() throws {
        let file = try server.addFile(size: 100_000)
        let error = fetch(request("/file/\(file.name)") { $0.maximumBytes = 99_999 })
        #expect(error?.remark == "download: archive larger than the 99999-byte limit")
        #expect(server.requests(endingWith: file.name).count == 1)
        #expect(contents(destination) == [])
        // Without a Content-Length the cap stops the stream itself.
        #expect(fetch(request("/no-length/\(file.name)") { $0.maximumBytes = 50_000 }) == .tooLarge(limit: 50_000))
        #expect(contents(destination) == [])
        #expect(fetch(request("/no-length/\(file.name)")) == nil)
        #expect(contents(destination) == file.bytes)
    }

    @Test func chunkedBodiesDownloadAndACutChunkedBodyFails() throws {
        let file = try server.addFile(size: 400_000)
        #expect(fetch(request("/chunked/\(file.name)") { $0.sha256 = SHA256.digest(file.bytes) }) == nil)
        #expect(contents(destination) == file.bytes)
        try reset()
        let error = fetch(request("/chunked-cut/\(file.name)"))
        guard case .bodyEnded(_, nil)? = error else {
            Issue.record("expected bodyEnded, got \(String(describing: error))")
            return
        }
        #expect(error!.remark.hasSuffix("bytes, before its last chunk"))
    }

    @Test func aDownloadCutHalfwayResumesFromTheByteItHad() throws {
        let file = try server.addFile(size: 300_000)
        let r = request("/cut-once/\(file.name)") { $0.sha256 = SHA256.digest(file.bytes) }
        #expect(fetch(r) == .bodyEnded(received: 150_000, expected: 300_000))
        #expect(Files.size(destination) == 150_000)
        // The worker's next attempt: the target remembers the validators.
        var first: Int64? = nil
        #expect(fetch(r) { received, _ in if first == nil { first = received } } == nil)
        #expect(first == 150_000)
        #expect(contents(destination) == file.bytes)
        let logged = server.requests(endingWith: file.name)
        #expect(logged.count == 2)
        #expect(logged[1]["range"] as? String == "bytes=150000-")
        #expect((logged[1]["if_range"] as? String)?.hasPrefix("\"") == true)
    }

    @Test func aChangedFileOnTheServerIsFetchedWhole() throws {
        let file = try server.addFile(size: 50_000)
        let url = server.url("/file/\(file.name)")
        try prefill([UInt8](repeating: 7, count: 20_000), PartialDownload(url: url, etag: "\"stale\"", lastModified: nil, total: 50_000))
        #expect(fetch(request("/file/\(file.name)")) == nil)
        #expect(contents(destination) == file.bytes)
        let logged = server.requests(endingWith: file.name)
        #expect(logged.count == 1 && logged[0]["if_range"] as? String == "\"stale\"")
    }

    @Test func aPartForAnotherURLIsDiscarded() throws {
        let file = try server.addFile(size: 20_000)
        try prefill([UInt8](repeating: 7, count: 5_000), PartialDownload(url: "https://elsewhere/x", etag: nil, lastModified: nil, total: nil))
        #expect(fetch(request("/file/\(file.name)")) == nil)
        #expect(contents(destination) == file.bytes)
        #expect(server.requests(endingWith: file.name)[0]["range"] is NSNull)
    }

    @Test func aCompletePartIsFinishedAfterA416() throws {
        let file = try server.addFile(size: 30_000)
        let url = server.url("/file/\(file.name)")
        try prefill(file.bytes, PartialDownload(url: url, etag: nil, lastModified: nil, total: 30_000))
        #expect(fetch(request("/file/\(file.name)") { $0.sha256 = SHA256.digest(file.bytes) }) == nil)
        #expect(contents(destination) == file.bytes)
        #expect(server.requests(endingWith: file.name).map { $0["range"] as? String } == ["bytes=30000-"])
    }

    @Test func notEnoughFreeSpaceFailsBeforeWriting() throws {
        let file = try server.addFile(size: 10_000)
        let error = fetch(request("/file/\(file.name)") { $0.reserveBytes = 1 << 60 })
        guard case .notEnoughSpace(let need, let have)? = error else {
            Issue.record("expected notEnoughSpace, got \(String(describing: error))")
            return
        }
        #expect(need == 10_000 + (1 << 60) && have < need)
        #expect(error!.remark.hasPrefix("download: not enough free space (need \(need) bytes, have "))
        #expect(contents(destination) == [])
    }

    @Test func aRefusedConnectionIsOneLine() {
        var r = request("/file/x")
        r.url = "https://localhost:1/file/x"
        #expect(fetch(r)?.remark == "download: connection refused")
    }

    @Test func theIPAddressOfTheServerIsCheckedAgainstTheCertificate() throws {
        let file = try server.addFile(size: 1000)
        var r = request("/file/\(file.name)")
        r.url = "https://127.0.0.1:\(server.port)/file/\(file.name)"
        #expect(fetch(r) == nil)
    }
}

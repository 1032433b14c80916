import TinyBase

/// Acquiring: bringing an archive and its detached signature into the two
/// files the agent made for them in `downloads/`, in the update worker (the
/// helper user, no capabilities). One function per `UpdateSource`; nothing
/// here decides whether the archive is installed — the agent checks the
/// signature after this worker has exited (`ArchiveCheck`). An empty
/// signature file means "unsigned".
package enum UpdateAcquirer {
    /// Attempts at a download cut short (the server closed, a stall):
    /// each resumes where the last stopped.
    package static let attempts = 3

    /// Runs `job` (`download` or `copy`), or says why it failed.
    package static func acquire(_ job: UpdateJob, _ fds: [FileDescriptor], _ reporter: inout UpdateWorker.ProgressReporter) -> String? {
        let archive = fds[UpdateJob.Descriptor.archive.rawValue]
        let signature = fds[UpdateJob.Descriptor.signature.rawValue]
        let third = fds[UpdateJob.Descriptor.third.rawValue]
        switch job.kind {
        case .download:
            let ca = "/proc/self/fd/\(third.rawValue)"
            return download(job, ca: ca, into: archive, &reporter) ?? downloadSignature(job, ca: ca, into: signature, &reporter)
        case .copy:
            let localSignature = fds.count > UpdateJob.Descriptor.fourth.rawValue ? fds[UpdateJob.Descriptor.fourth.rawValue] : nil
            return copy(from: third, to: archive, cap: job.settings.downloadMaximumBytes, reserve: job.settings.reserveBytes,
                        what: "archive", &reporter)
                ?? localSignature.flatMap {
                    copy(from: $0, to: signature, cap: UpdateJob.signatureCap, reserve: 0, what: "signature", &reporter)
                }
        case .unpack, .probe:
            return "\(job.kind.rawValue) is not acquiring"
        }
    }

    /// Downloads the archive (resuming), or says why not.
    private static func download(_ job: UpdateJob, ca: String, into file: FileDescriptor,
                                 _ reporter: inout UpdateWorker.ProgressReporter) -> String? {
        var request = request(job, url: job.url, ca: ca)
        request.maximumBytes = job.settings.downloadMaximumBytes
        request.sha256 = job.sha256
        var target = DownloadTarget(file: file)
        var attempt = 1
        while true {
            do throws(DownloadError) {
                try Downloader.fetch(request, into: &target) { done, total in reporter.report(.download, done, total) }
                return nil
            } catch {
                guard error.isResumable, attempt < attempts else { return error.remark }
                reporter.log("\(error.remark); resuming (attempt \(attempt + 1) of \(attempts))")
                Clock.sleep(.seconds(Int64(attempt)))
                attempt += 1
            }
        }
    }

    /// Downloads the signature; a server that has none (any 4xx) leaves the
    /// file empty: unsigned, which a device with update keys refuses.
    private static func downloadSignature(_ job: UpdateJob, ca: String, into file: FileDescriptor,
                                          _ reporter: inout UpdateWorker.ProgressReporter) -> String? {
        var request = request(job, url: job.signatureURL, ca: ca)
        request.maximumBytes = UpdateJob.signatureCap
        var target = DownloadTarget(file: file)
        do throws(DownloadError) {
            try Downloader.fetch(request, into: &target) { _, _ in }
            return nil
        } catch {
            if case .httpStatus(let status, _) = error, (400..<500).contains(status) {
                reporter.log("no signature at \(job.signatureURL) (HTTP \(status))")
                try? file.truncate(to: 0)
                return nil
            }
            return "signature " + error.remark
        }
    }

    private static func request(_ job: UpdateJob, url: String, ca: String) -> DownloadRequest {
        var request = DownloadRequest(url: url, caFile: ca)
        request.allowPlainHTTP = job.settings.allowPlainHTTP
        request.connectTimeout = job.settings.connectTimeout
        request.idleTimeout = job.settings.idleTimeout
        request.reserveBytes = job.settings.reserveBytes
        return request
    }

    /// Copies a local file (read from its start) into `file`, at most `cap`
    /// bytes, leaving at least `reserve` bytes free on the file system.
    private static func copy(from source: FileDescriptor, to file: FileDescriptor, cap: Int64, reserve: Int64, what: String,
                             _ reporter: inout UpdateWorker.ProgressReporter) -> String? {
        let total: Int64
        do throws(Errno) { total = try source.status().size } catch { return "local \(what): \(error)" }
        if total > cap { return "local \(what): larger than the \(cap)-byte limit" }
        if let remark = spaceRemark(copying: total, into: file, reserve: reserve, what: what) { return remark }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Downloader.bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        do throws(Errno) {
            while true {
                let n = try source.read(into: buffer, at: done)
                if n == 0 { break }
                done += Int64(n)
                if done > cap { return "local \(what): larger than the \(cap)-byte limit" }
                try file.writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                reporter.report(.copy, done, total)
            }
            try file.sync()
        } catch {
            return "local \(what): \(error)"
        }
        return nil
    }

    /// Why `size` bytes cannot go into `file` and leave `reserve` free, as a
    /// download must (`reserve_free_bytes`), or nil: checked before a byte is
    /// written, so a full card is not filled to its last block first.
    private static func spaceRemark(copying size: Int64, into file: FileDescriptor, reserve: Int64, what: String) -> String? {
        // `file` is the new, empty one the agent made in downloads/.
        guard let free = file.freeBytes else { return "local \(what): the free space is unknown" }
        guard size + reserve > free else { return nil }
        return "local \(what): not enough free space (need \(size + reserve) bytes: \(size) for the \(what) "
            + "and \(reserve) kept free by reserve_free_bytes; have \(free))"
    }
}

import TinyBase

/// What an unfinished download's next attempt (in the same worker) needs to continue it
/// with `Range` and `If-Range`: the server's validators for the bytes already written.
package struct PartialDownload: Equatable {
    package var url: String
    var etag: String?
    var lastModified: String?
    /// The whole file's length when the server said it.
    package var total: Int64?

    /// The byte a new attempt continues from: the part file's size when the sidecar is for
    /// this very URL (and the part is not longer than the file), else 0 (start over).
    static func resumeOffset(sidecar: PartialDownload?, partSize: Int64?, url: String) -> Int64 {
        guard let sidecar, sidecar.url == url, let partSize, partSize > 0 else { return 0 }
        if let total = sidecar.total, partSize > total { return 0 }
        return partSize
    }

    /// `Range: bytes=N-` and, when the server gave one, `If-Range` with the strong ETag
    /// (a weak one may not be used) or else Last-Modified: a changed file then comes whole
    /// with a 200 instead of a mismatched tail.
    static func resumeHeaders(offset: Int64, sidecar: PartialDownload?) -> [HTTPHeader] {
        guard offset > 0 else { return [] }
        var headers = [HTTPHeader("Range", "bytes=\(offset)-")]
        if let etag = sidecar?.etag, !etag.utf8.starts(with: "W/".utf8) {
            headers.append(HTTPHeader("If-Range", etag))
        } else if let date = sidecar?.lastModified {
            headers.append(HTTPHeader("If-Range", date))
        }
        return headers
    }

    package enum Decision: Equatable {
        /// Write the body at `from` (0: truncate the part first); `total` is the whole file's
        /// length when known.
        case write(from: Int64, total: Int64?)
        /// A 416 saying the file is exactly as long as what we have: it is complete.
        case complete
        /// Ask again from byte 0 (a 416, or a 206 for another range).
        case startOver
        case fail(DownloadError)
    }

    /// What to do with the response to a request that asked for bytes from `offset` on.
    package static func decide(_ head: ResponseHead, offset: Int64) -> Decision {
        switch head.status {
        case 200:
            return .write(from: 0, total: head.contentLength)
        case 206:
            guard let contentRange = head.contentRange, let range = contentRange.range else {
                return .fail(.transfer(.badResponse("206 without a byte range")))
            }
            if range.lowerBound == offset { return .write(from: offset, total: contentRange.total) }
            return offset > 0 ? .startOver : .fail(.transfer(.badResponse("206 for bytes \(range.lowerBound)-, not 0-")))
        case 416 where offset > 0:
            return head.contentRange?.total == offset ? .complete : .startOver
        default:
            return .fail(.httpStatus(head.status, head.reason))
        }
    }
}

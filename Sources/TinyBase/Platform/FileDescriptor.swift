import CShims

/// An open file descriptor the agent owns. Every one is opened close-on-exec.
public struct FileDescriptor: Equatable, Hashable {
    package let rawValue: Int32
    package init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// `read(2)`; 0 at end of file.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno { ta_read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads until end of file. More than `limit` bytes is an error
    /// (`EFBIG`): nothing the agent reads should be large.
    package func readToEnd(limit: Int) throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            var result: Result<Int, Errno> = .success(0)
            chunk.withUnsafeMutableBytes { buffer in
                do throws(Errno) { result = .success(try read(into: buffer)) } catch { result = .failure(error) }
            }
            let n = try result.get()
            if n == 0 { return bytes }
            if bytes.count + n > limit { throw Errno.fileTooLarge }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// `write(2)` until every byte is written.
    package func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            offset += try valueOrErrno {
                ta_write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            }
        }
    }

    package func writeAll(_ string: String) throws(Errno) {
        var copy = string
        var result: Result<Void, Errno> = .success(())
        copy.withUTF8 { bytes in
            do throws(Errno) { try writeAll(UnsafeRawBufferPointer(bytes)) } catch { result = .failure(error) }
        }
        try result.get()
    }

    /// `fsync(2)`.
    package func sync() throws(Errno) { try nothingOrErrno { ta_fsync(rawValue) } }

    /// `ftruncate(2)`.
    package func truncate(to size: Int64) throws(Errno) { try nothingOrErrno { ta_ftruncate(rawValue, size) } }

    /// `close(2)`, never retried: the descriptor is gone whatever it returns.
    package func close() { _ = ta_close(rawValue) }

    /// Closes it on the closer thread (`Sources/CShims/closer.c`): a descriptor
    /// a less trusted process passed, or a socket it can queue descriptors on,
    /// whose close could wait as long as that process likes.
    package func discard() { ta_discard(rawValue) }

    /// Waits up to `timeout` (zero: just looks) for input; whether there is some.
    package func waitReadable(_ timeout: Duration) -> Bool {
        ta_wait_readable(rawValue, Int32(clamping: max(timeout.milliseconds, 0))) == 1
    }
}

extension FileDescriptor {
    /// `flock(LOCK_EX | LOCK_NB)`: false while another open file holds the
    /// lock. The kernel drops it when the last descriptor of this open file
    /// closes — at exit, however the process ends.
    package func tryLockExclusive() throws(Errno) -> Bool {
        do {
            try nothingOrErrno { ta_flock_exclusive_nowait(rawValue) }
            return true
        } catch {
            if error == .wouldBlock { return false }
            throw error
        }
    }
}

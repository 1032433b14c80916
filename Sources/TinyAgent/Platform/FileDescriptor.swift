import CShims

/// An open file descriptor the agent owns. Every one is opened close-on-exec.
public struct FileDescriptor: Equatable, Hashable {
    let rawValue: Int32
    init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// `read(2)`; 0 at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno { ta_read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// `write(2)` until every byte is written.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            offset += try valueOrErrno {
                ta_write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            }
        }
    }

    func writeAll(_ string: String) throws(Errno) {
        var copy = string
        var result: Result<Void, Errno> = .success(())
        copy.withUTF8 { bytes in
            do throws(Errno) { try writeAll(UnsafeRawBufferPointer(bytes)) } catch { result = .failure(error) }
        }
        try result.get()
    }

    /// `fsync(2)`.
    func sync() throws(Errno) { try nothingOrErrno { ta_fsync(rawValue) } }

    /// `ftruncate(2)`.
    func truncate(to size: Int64) throws(Errno) { try nothingOrErrno { ta_ftruncate(rawValue, size) } }

    /// `close(2)`, never retried: the descriptor is gone whatever it returns.
    func close() { _ = ta_close(rawValue) }
}

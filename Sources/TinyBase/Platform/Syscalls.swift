import CShims

/// Runs a C call that returns -1 and sets errno on failure, reading errno at
/// once. This is the one place EINTR is handled: retried unless asked not to
/// (never retry `close`).
@inline(__always)
func valueOrErrno<T: FixedWidthInteger>(
    retryOnInterrupt: Bool = true, _ call: () -> T
) throws(Errno) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let error = Errno.current
        if retryOnInterrupt && error == .interrupted { continue }
        throw error
    }
}

/// Like `valueOrErrno`, for calls that succeed with 0.
@inline(__always)
func nothingOrErrno(retryOnInterrupt: Bool = true, _ call: () -> Int32) throws(Errno) {
    _ = try valueOrErrno(retryOnInterrupt: retryOnInterrupt, call)
}

/// A C string argument for a Swift string, without Foundation. (The
/// stdlib's `withUTF8` rethrows untyped errors, which Embedded Swift lacks,
/// so the typed error travels out in a Result.)
@inline(__always)
package func withCString<R, E: Error>(_ string: String, _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
    var copy = string
    var result: Result<R, E>?
    copy.withUTF8 { bytes in
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
            for i in 0..<bytes.count { buffer[i] = CChar(bitPattern: bytes[i]) }
            buffer[bytes.count] = 0
            do throws(E) { result = .success(try body(UnsafePointer(buffer.baseAddress!))) } catch { result = .failure(error) }
        }
    }
    return try result!.get()
}

/// The value of an environment variable, or nil.
public func environment(_ name: String) -> String? {
    withCString(name) { cName in
        guard let value = ta_getenv(cName) else { return nil }
        return String(cString: value)
    }
}

/// Sets an environment variable for this process and what it starts.
package func setEnvironment(_ name: String, _ value: String) {
    _ = withCString(name) { cName in withCString(value) { ta_setenv(cName, $0) } }
}

/// `withCString` for an optional string (nil stays NULL).
package func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return withCString(string) { body($0) }
}

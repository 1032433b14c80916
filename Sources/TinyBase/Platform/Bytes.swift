/// `Array.withUnsafeBytes` with a typed error: the stdlib's rethrows an
/// untyped error, which Embedded Swift does not have.
@inline(__always)
package func withBytes<R, E: Error>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    var result: Result<R, E>?
    array.withUnsafeBytes { raw in
        do throws(E) { result = .success(try body(raw)) } catch { result = .failure(error) }
    }
    return try result!.get()
}
